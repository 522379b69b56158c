// Runs test cases through the real HTTP API, as `tb test run` does (compat reference §7.5): one GET per case
// to `/v0/pipes/<pipe>.ndjson`, an exact text compare, and for a failing request the `error` text and status.
// Budgets (ours) repeat the request as `.json` and read ClickHouse's `statistics` from the answer.
import { unifiedDiff } from './diff.js';
import { caseQuery, type TestCase } from './model.js';

export interface ApiTarget {
  url: string;
  token: string;
}

/** How to reach the pipe: endpoints by their URL, other pipes through /v0/sql over their output node. */
export interface PipeTarget {
  name: string;
  endpoint: boolean;
  outputNode: string;
}

export interface Answer {
  /** What the request looked like, for messages: `GET /v0/pipes/x.ndjson?a=1`. */
  request: string;
  status: number;
  /** The body of a 2xx answer; the `error` text of any other. */
  text: string;
}

export interface QueryStats {
  rowsRead: number;
  elapsedMs: number;
}

export interface CaseResult {
  testCase: TestCase;
  passed: boolean;
  answer: Answer;
  /** Why the case failed: status mismatch, a diff, or a budget overrun. Empty when it passed. */
  failure: string;
  stats?: QueryStats;
}

function requestPath(pipe: PipeTarget, query: string, ext: 'ndjson' | 'json'): string {
  if (pipe.endpoint) return `/v0/pipes/${encodeURIComponent(pipe.name)}.${ext}${query ? `?${query}` : ''}`;
  const q = new URLSearchParams({ q: `SELECT * FROM ${pipe.outputNode} FORMAT ${ext === 'json' ? 'JSON' : 'JSONEachRow'}`, pipeline: pipe.name });
  return `/v0/sql?${q.toString()}${query ? `&${query}` : ''}`;
}

/** GET with the suite's token; no answer at all becomes an error naming the request and the server. */
export async function apiGet(api: ApiTarget, path: string): Promise<Response> {
  try {
    return await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${api.token}` } });
  } catch (err) {
    throw new Error(`GET ${path} did not get an answer from ${api.url}: ${(err as Error).message}`);
  }
}

/** Calls the pipe with a case's parameters, as the runner compares it. */
export async function callPipe(api: ApiTarget, pipe: PipeTarget, parameters: string): Promise<Answer> {
  const path = requestPath(pipe, caseQuery(parameters), 'ndjson');
  const res = await apiGet(api, path);
  const body = await res.text();
  let text = body;
  if (res.status >= 400) {
    try {
      text = String((JSON.parse(body) as { error?: unknown }).error ?? body);
    } catch {
      /* not JSON: compare the raw body */
    }
  }
  return { request: `GET ${path}`, status: res.status, text };
}

/** rows_read and elapsed of the same request, from ClickHouse's statistics in the `.json` answer. */
export async function measurePipe(api: ApiTarget, pipe: PipeTarget, parameters: string): Promise<QueryStats> {
  const path = requestPath(pipe, caseQuery(parameters), 'json');
  const res = await apiGet(api, path);
  const body = await res.text();
  if (res.status >= 400) throw new Error(`GET ${path} answered HTTP ${res.status} when measuring the budget: ${body.slice(0, 300)}`);
  const stats = (JSON.parse(body) as { statistics?: { rows_read?: number; elapsed?: number } }).statistics;
  if (stats?.rows_read === undefined || stats.elapsed === undefined) throw new Error(`GET ${path} answered without ClickHouse statistics, so the budget cannot be checked`);
  return { rowsRead: Number(stats.rows_read), elapsedMs: Number(stats.elapsed) * 1000 };
}

function budgetFailures(c: TestCase, stats: QueryStats): string[] {
  const out: string[] = [];
  if (c.max_rows_read !== undefined && stats.rowsRead > c.max_rows_read) out.push(`read ${stats.rowsRead} rows, budget max_rows_read ${c.max_rows_read}`);
  if (c.max_elapsed_ms !== undefined && stats.elapsedMs > c.max_elapsed_ms) out.push(`took ${stats.elapsedMs.toFixed(1)} ms, budget max_elapsed_ms ${c.max_elapsed_ms}`);
  return out;
}

export async function runCase(api: ApiTarget, pipe: PipeTarget, c: TestCase, file: string): Promise<CaseResult> {
  const answer = await callPipe(api, pipe, c.parameters);
  const fail = (failure: string): CaseResult => ({ testCase: c, passed: false, answer, failure: `${answer.request}\n${failure}` });
  if (answer.status >= 400 && c.expected_http_status === undefined) {
    return fail(`Expected to not fail but got an error (HTTP ${answer.status}): ${answer.text}\n(if the error is what you want, add expected_http_status: ${answer.status})`);
  }
  if (c.expected_http_status !== undefined && answer.status !== c.expected_http_status) {
    return fail(`Expected HTTP ${c.expected_http_status} but got ${answer.status}${answer.status >= 400 ? `: ${answer.text}` : ''}`);
  }
  if (answer.text !== c.expected_result) {
    return fail(unifiedDiff(c.expected_result, answer.text, { expected: `expected_result (${file}, case ${c.name})`, actual: `actual (HTTP ${answer.status})` }));
  }
  if ((c.max_rows_read === undefined && c.max_elapsed_ms === undefined) || answer.status >= 400) return { testCase: c, passed: true, answer, failure: '' };
  let stats: QueryStats;
  try {
    stats = await measurePipe(api, pipe, c.parameters);
  } catch (e) {
    // The case fails (with the reason and a way out) instead of the whole run stopping on a stack trace.
    return fail(`${(e as Error).message}; remove max_rows_read / max_elapsed_ms from the case, or fix what the request above reports`);
  }
  const over = budgetFailures(c, stats);
  if (over.length) return { ...fail(over.join('\n')), stats };
  return { testCase: c, passed: true, answer, failure: '', stats };
}

export interface FileResult {
  file: string;
  results: CaseResult[];
  /** Cases not run because an earlier case of the file failed (Tinybird stops a file at its first failure). */
  skipped: TestCase[];
}

export async function runTestFile(api: ApiTarget, pipe: PipeTarget, file: string, cases: readonly TestCase[], onResult?: (r: CaseResult) => void): Promise<FileResult> {
  const results: CaseResult[] = [];
  for (let i = 0; i < cases.length; i++) {
    const r = await runCase(api, pipe, cases[i]!, file);
    results.push(r);
    onResult?.(r);
    if (!r.passed) return { file, results, skipped: cases.slice(i + 1) };
  }
  return { file, results, skipped: [] };
}

/** A case with its expectation set to what the pipe answers now (`test update`, `test create`). */
export async function refreshCase(api: ApiTarget, pipe: PipeTarget, c: TestCase): Promise<TestCase> {
  const answer = await callPipe(api, pipe, c.parameters);
  const updated: TestCase = { ...c, expected_result: answer.text };
  if (answer.status >= 400) updated.expected_http_status = answer.status;
  else delete updated.expected_http_status;
  return updated;
}
