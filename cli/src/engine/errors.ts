// ClickHouse errors as one type, whichever engine raised them.

export class EngineError extends Error {
  constructor(
    message: string,
    /** ClickHouse error code (e.g. 47 UNKNOWN_IDENTIFIER, 159 TIMEOUT_EXCEEDED), when known. */
    readonly code?: number,
    readonly type?: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }

  /** Out of time: 159 TIMEOUT_EXCEEDED, or 160 TOO_SLOW (the server estimated it would pass max_execution_time). */
  get isTimeout(): boolean {
    return this.code === 159 || this.code === 160 || this.type === 'TIMEOUT_EXCEEDED' || this.type === 'TOO_SLOW';
  }

  /**
   * The server could not take or finish the query for a reason of its own that passes: 202
   * TOO_MANY_SIMULTANEOUS_QUERIES, 209 SOCKET_TIMEOUT, 210 NETWORK_ERROR (between the server and another node),
   * 394 QUERY_WAS_CANCELLED (a server shutting down, or a KILL QUERY). The same query may pass when sent again.
   */
  get isUnavailable(): boolean {
    return this.code !== undefined && UNAVAILABLE_CODES.has(this.code);
  }

  get isConnection(): boolean {
    return this.code === undefined && /ECONNREFUSED|ECONNRESET|socket hang up|Timeout error|EPIPE/i.test(this.message);
  }

  /** The connection was refused: nothing was sent, so nothing runs on the server. */
  get isRefused(): boolean {
    return this.isConnection && /ECONNREFUSED/.test(this.message);
  }

  /**
   * The client's own limit passed with no answer (its timer also runs while connecting): the server may be down,
   * or may be running the statement still.
   */
  get isClientTimeout(): boolean {
    return this.code === undefined && /^Timeout error\.?$/.test(this.message);
  }

  /**
   * The engine's state failed the query, not its text: too slow, out of memory, too busy, cancelled or
   * unreachable. The same query may pass a moment later or with less data.
   */
  get isTransient(): boolean {
    return this.isTimeout || this.isConnection || this.isUnavailable || (this.code !== undefined && OUT_OF_MEMORY_CODES.has(this.code));
  }
}

const UNAVAILABLE_CODES = new Set([202, 209, 210, 394]);
/** 173 CANNOT_ALLOCATE_MEMORY, 241 MEMORY_LIMIT_EXCEEDED. */
const OUT_OF_MEMORY_CODES = new Set([173, 241]);

/** What to do about an answer too large, whichever limit stopped it (ClickHouse's or the reader's). */
export const RESULT_TOO_LARGE_HINT = 'ask for fewer rows or columns (a LIMIT, a narrower SELECT, or pages with LIMIT ... OFFSET)';

/** An answer longer than the caller's `maxBytes`: its reading stopped there. */
export class ResultTooLargeError extends EngineError {
  constructor(readonly maxBytes: number) {
    super(`the answer is larger than ${formatMiB(maxBytes)}: ${RESULT_TOO_LARGE_HINT}`);
    this.name = 'ResultTooLargeError';
  }
}

function formatMiB(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;
}

/** Normalises whatever @clickhouse/client or chDB threw into an EngineError with a clean message. */
export function toEngineError(err: unknown): EngineError {
  if (err instanceof EngineError) return err;
  const e = err as { message?: string; code?: string | number; type?: string };
  const raw = String(e?.message ?? err);
  const numeric = typeof e?.code === 'string' && /^\d+$/.test(e.code) ? Number(e.code) : typeof e?.code === 'number' ? e.code : undefined;
  // Servers before 20.x wrap messages as "Code: N, e.displayText() = DB::Exception: msg, e.what() = DB::Exception".
  const legacy = /Code: (\d+), e\.displayText\(\) = DB::Exception: ([\s\S]*?)(?:, e\.what\(\) = DB::Exception)?\s*$/.exec(raw);
  if (legacy) return new EngineError(withoutVersion(legacy[2]), Number(legacy[1]), e?.type);
  const message = withoutVersion(raw);
  return new EngineError(message, numeric, e?.type);
}

/** The server's version at the end of a message: `(version 20.3.5.21 (official build))`, `(version 24.8.1.1)`. */
function withoutVersion(message: string): string {
  return message.replace(/\s*\(version [^()]*(?:\([^()]*\))?\)\s*$/, '').trim();
}
