// One endpoint test case, as a `tests/<pipe>.yaml` file lists them (compat reference §7.5), plus the
// per-case budgets emailstats adds so that a pipe that starts scanning too much fails in CI.

export interface TestCase {
  name: string;
  description?: string;
  /** A query string (`a=1&b=2`); anything up to a `?` is ignored, as Tinybird does. */
  parameters: string;
  /** NDJSON text of a 2xx answer, or the `error` text of a failing one. */
  expected_result: string;
  /** Present when the case expects the endpoint to fail. */
  expected_http_status?: number;
  /** Beyond Tinybird: the most rows the query may read (ClickHouse `statistics.rows_read`). */
  max_rows_read?: number;
  /** Beyond Tinybird: the longest the query may take, in milliseconds (ClickHouse `statistics.elapsed`). */
  max_elapsed_ms?: number;
}

/** Keys in the order Tinybird writes them, then ours. */
export const CASE_KEYS = ['name', 'description', 'parameters', 'expected_result', 'expected_http_status', 'max_rows_read', 'max_elapsed_ms'] as const;

/** The query string a case sends: only what follows a `?`, if there is one. */
export function caseQuery(parameters: string): string {
  const q = parameters.trim();
  const at = q.indexOf('?');
  return at >= 0 ? q.slice(at + 1) : q;
}
