// Last-resort error printer for the CLI: user-facing errors print their message (no stack) and exit 1.
import { createRequire } from 'node:module';

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

/** How long a failed command may take to wind down by itself before it is made to exit. */
const FORCED_EXIT_AFTER_MS = 2000;

/**
 * Prints the error and ends the process with its exit code (1 unless the error says otherwise).
 *
 * Not with an immediate process.exit(): once the embedded engine has run, that ended in a segmentation fault
 * (exit 139). chDB's connection close() returns before the native connection is gone when a native operation
 * is still finishing, and process.exit() skips Node's environment teardown (where chDB shuts its engine down)
 * and runs chDB's exit-time destructors while its threads still work. So the exit code is set, chDB's pending
 * work is drained, and the process ends by itself; a process that something still keeps alive (a server
 * that was listening when the error came) is made to exit after FORCED_EXIT_AFTER_MS.
 */
export function reportFatal(err: unknown): void {
  const code = err instanceof UserError ? err.exitCode : 1;
  const text = isUserFacing(err) ? err.message : ((err as Error)?.stack ?? String(err));
  process.stderr.write(`error: ${text}\n`);
  process.exitCode = code;
  void drainEmbeddedEngine().finally(() => setTimeout(() => process.exit(code), FORCED_EXIT_AFTER_MS).unref());
}

/**
 * UserErrors, and the engine's errors (ClickHouse's own message, or why the server cannot be reached), whose stack
 * says nothing to a user. Matched by name: util/ does not depend on engine/.
 */
function isUserFacing(err: unknown): err is Error {
  return err instanceof UserError || (err instanceof Error && err.name === 'EngineError');
}

/** Waits for chDB's in-flight native operations and deferred connection teardowns, if chDB was loaded at all. */
async function drainEmbeddedEngine(): Promise<void> {
  const require = createRequire(import.meta.url);
  let resolved: string;
  try {
    resolved = require.resolve('chdb');
  } catch {
    return;
  }
  const loaded = require.cache[resolved]?.exports as { drainPending?: () => Promise<void> } | undefined;
  await loaded?.drainPending?.().catch(() => undefined);
}
