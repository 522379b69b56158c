// Last-resort error printer for the CLI: user-facing errors print their message (no stack) and exit 1.

/** An error whose message is meant for the user as it is: printed without a stack trace. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'UserError';
  }
}

export function reportFatal(err: unknown): never {
  if (err instanceof UserError) {
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  const e = err as Error;
  process.stderr.write(`error: ${e?.stack ?? String(err)}\n`);
  process.exit(1);
}
