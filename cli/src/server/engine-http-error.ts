// The HTTP answer to a ClickHouse failure: whether it was the request's fault (400, in the caller's words) or the
// engine's state (408, 503), which the same request may get past later.
import { EngineError, RESULT_TOO_LARGE_HINT, ResultTooLargeError } from '../engine/errors.js';
import { EngineBusyError } from '../engine/scheduler.js';
import { HttpError } from './http.js';

/**
 * 408 when the statement ran out of time; 503 with Retry-After when the engine could not take or finish it for a
 * reason that passes (too busy, unreachable, unavailable). Undefined for any other failure: the statement's text
 * caused it, and the caller answers it. `what` names the statement in the message ("the query", "the copy"),
 * `limitS` is its time limit where the caller knows it.
 */
export function engineStateHttpError(err: unknown, what: string, limitS?: number): HttpError | undefined {
  if (err instanceof EngineBusyError) return new HttpError(503, err.message, {}, { 'retry-after': String(err.retryAfterSeconds) });
  if (!(err instanceof EngineError)) return undefined;
  if (err.isTimeout) return new HttpError(408, `${what} took longer than ${limitS === undefined ? 'its time limit' : `the ${limitS} s limit`}: ${err.message}`);
  // The client's own limit: no answer (or no connection: the timer also runs while connecting) for its whole wait.
  if (err.isClientTimeout) return new HttpError(503, `ClickHouse did not answer within the client's time limit (down, unreachable or overloaded): ${err.message}`, {}, { 'retry-after': '5' });
  if (err.isConnection) return new HttpError(503, `ClickHouse is not reachable: ${err.message}`, {}, { 'retry-after': '5' });
  if (err.isUnavailable) return new HttpError(503, `ClickHouse could not run ${what} now, send it again: ${err.message}`, {}, { 'retry-after': '1' });
  return undefined;
}

/**
 * Whether the engine surely never started the statement (its queue or the server refused it, the connection was
 * refused): only then is sending a write again safe whatever it does. A read is safe to send again anyway.
 */
export function surelyNotStarted(err: unknown): boolean {
  if (err instanceof EngineBusyError) return true;
  return err instanceof EngineError && (err.code === 202 || err.isRefused);
}

/** A request query's failure: engineStateHttpError, else 400 with the engine's message (the query is wrong). */
export function queryHttpError(err: unknown, maxExecutionTime: number): unknown {
  const state = engineStateHttpError(err, 'the query', maxExecutionTime);
  if (state) return state;
  if (!(err instanceof EngineError)) return err;
  // 396 TOO_MANY_ROWS_OR_BYTES: the endpoint limits (max_result_rows, max_result_bytes) stopped the answer.
  return new HttpError(400, err.code === 396 && !(err instanceof ResultTooLargeError) ? `${err.message}: ${RESULT_TOO_LARGE_HINT}` : err.message);
}
