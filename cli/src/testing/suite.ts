// The three `emailstats test` workflows over a served throw-away workspace: run files and report, rewrite a
// file's expectations from current answers, and write a starting file for a pipe.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PipeFile } from '../datafile/types.js';
import { quoteIdent } from '../sql/quote.js';
import { isEndpoint, outputNode, type Project } from '../project/model.js';
import type { ParamInfo } from '../template/index.js';
import { readTestFile, type TestFile } from './files.js';
import { pipeParams } from '../project/params.js';
import { generateCases, goodValue, queryPair } from './generate.js';
import type { TestCase } from './model.js';
import { apiGet, callPipe, refreshCase, runTestFile, type ApiTarget, type CaseResult, type PipeTarget } from './runner.js';
import { formatTestFile, TestFileError } from './yaml.js';

export type Write = (text: string) => void;

export function pipeTarget(pipe: PipeFile): PipeTarget {
  return { name: pipe.name, endpoint: isEndpoint(pipe), outputNode: outputNode(pipe).name };
}

const indent = (text: string): string => text.split('\n').map((l) => `    ${l}`).join('\n');

export interface SuiteSummary {
  passed: number;
  failed: number;
  skipped: number;
}

export async function runSuite(api: ApiTarget, project: Project, files: readonly TestFile[], out: Write): Promise<SuiteSummary> {
  const summary: SuiteSummary = { passed: 0, failed: 0, skipped: 0 };
  for (const file of files) {
    const pipe = project.pipes.get(file.pipe);
    if (!pipe) {
      out(`✗ ${file.rel} All tests skipped (${file.pipe}.pipe not found)\n`);
      summary.failed++;
      continue;
    }
    let cases: TestCase[];
    try {
      cases = readTestFile(file);
    } catch (err) {
      if (!(err instanceof TestFileError)) throw err;
      out(`✗ ${err.message}\n`);
      summary.failed++;
      continue;
    }
    const report = (r: CaseResult): void => {
      if (r.passed) {
        summary.passed++;
        out(`✓ ${file.rel} ${r.testCase.name}\n`);
      } else {
        summary.failed++;
        out(`✗ ${file.rel} ${r.testCase.name}\n${indent(r.failure)}\n`);
      }
    };
    const result = await runTestFile(api, pipeTarget(pipe), file.rel, cases, report);
    if (result.skipped.length) {
      summary.skipped += result.skipped.length;
      out(`  ${file.rel}: ${result.skipped.length} later case(s) not run (${result.skipped.map((c) => c.name).join(', ')}): a file stops at its first failure\n`);
    }
  }
  return summary;
}

/** Rewrites every case's expectation (and status) from what the pipe answers now; returns the cases that changed. */
export async function updateFile(api: ApiTarget, pipe: PipeFile, file: TestFile, out: Write): Promise<string[]> {
  const cases = readTestFile(file);
  const target = pipeTarget(pipe);
  const updated: TestCase[] = [];
  const changed: string[] = [];
  for (const c of cases) {
    const u = await refreshCase(api, target, c);
    const differs = u.expected_result !== c.expected_result || u.expected_http_status !== c.expected_http_status;
    if (differs) changed.push(c.name);
    out(`${differs ? '✎' : '='} ${file.rel} ${c.name}${u.expected_http_status ? ` (HTTP ${u.expected_http_status})` : ''}\n`);
    updated.push(u);
  }
  writeFileSync(file.path, formatTestFile(updated));
  return changed;
}

/** A value per String/DateTime parameter that has no example, from a datasource column of the same name. */
async function sampleFromData(api: ApiTarget, project: Project, params: ParamInfo[]): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (const p of params) {
    if (goodValue(p, undefined)) continue;
    for (const ds of project.datasources.values()) {
      if (!ds.columns.some((c) => c.name === p.name)) continue;
      // The most common non-empty value: a realistic choice, and stable as long as the fixtures are.
      const col = quoteIdent(p.name);
      const q = `SELECT toString(${col}) AS v FROM ${quoteIdent(ds.name)} WHERE v != '' GROUP BY v ORDER BY count() DESC, v LIMIT 1 FORMAT JSON`;
      const res = await apiGet(api, `/v0/sql?${new URLSearchParams({ q })}`);
      if (!res.ok) continue;
      const row = ((await res.json()) as { data: { v: string }[] }).data[0];
      if (row) {
        values.set(p.name, row.v);
        break;
      }
    }
  }
  return values;
}

export async function createFile(api: ApiTarget, project: Project, pipe: PipeFile, file: TestFile, out: Write): Promise<TestCase[]> {
  const target = pipeTarget(pipe);
  const params = pipeParams(pipe, project);
  const fromData = await sampleFromData(api, project, params);
  let base: { name: string; value: string } | undefined;
  if ((await callPipe(api, target, '')).status >= 400) {
    // The endpoint refuses its defaults, so some parameter is required: find one that makes it answer,
    // and send it with every other case so that each tests its own parameter, not the missing one.
    for (const p of params) {
      const good = goodValue(p, fromData.get(p.name));
      if (good && (await callPipe(api, target, queryPair(p.name, good.value))).status < 400) {
        base = { name: p.name, value: good.value };
        break;
      }
    }
  }
  const { cases, notes } = generateCases({ pipe: pipe.name, params, fromData, base });
  const filled: TestCase[] = [];
  for (const c of cases) {
    const u = await refreshCase(api, target, c);
    if (c.expected_http_status === 400 && u.expected_http_status === undefined) {
      notes.push(`${c.name}: the endpoint accepted ${c.parameters} (HTTP 200); the case records that, check whether the pipe should refuse it`);
    }
    filled.push(u);
  }
  mkdirSync(path.dirname(file.path), { recursive: true });
  writeFileSync(file.path, formatTestFile(filled));
  for (const c of filled) out(`✓ ${file.rel} ${c.name}${c.expected_http_status ? ` (HTTP ${c.expected_http_status})` : ''}\n`);
  for (const n of notes) out(`△ ${n}\n`);
  return filled;
}

