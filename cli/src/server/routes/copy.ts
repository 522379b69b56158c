// `POST /v0/pipes/<pipe>/copy?_mode=append|replace&<params>`: runs a copy pipe now, writing its result into
// its TARGET_DATASOURCE. Synchronous: the answer says how many rows were written.
import { rowCount } from '../../engine/tables.js';
import type { ServerResponse } from 'node:http';
import { quoteIdent } from '../../sql/quote.js';
import { refillTable } from '../../engine/swap.js';
import { tableSpec } from '../../project/ddl.js';
import { toEngineError } from '../../engine/errors.js';
import { renderNode } from '../../project/render.js';
import { authorizedResource } from './access.js';
import { HttpError, param, sendJson, type Request } from '../http.js';
import type { Workspace } from '../workspace.js';
import { templateVars } from './pipes.js';

function formatTimestamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

export async function runCopy(ws: Workspace, req: Request, res: ServerResponse, name: string): Promise<void> {
  const pipe = authorizedResource(ws, req, 'pipes', name, 'ADMIN').resource;
  const node = pipe.nodes.find((n) => n.type === 'copy');
  if (!node) throw new HttpError(400, `pipe '${name}' is not a copy pipe (it has no TYPE copy node)`);
  const mode = param(req, '_mode') ?? node.copyMode ?? 'append';
  if (mode !== 'append' && mode !== 'replace') throw new HttpError(400, `_mode must be append or replace, got '${mode}'`);
  const target = node.targetDatasource!;
  if (!ws.project.datasources.has(target)) throw new HttpError(400, `copy target datasource '${target}' does not exist`);
  const vars = templateVars(req, undefined);
  delete vars._mode;
  // `job_timestamp` defaults to now, as in Tinybird.
  if (vars.job_timestamp === undefined) vars.job_timestamp = formatTimestamp(new Date());
  const rendered = renderNode(ws.project, pipe, node, vars);
  const count = (table: string): Promise<number> => rowCount(ws.engine, table);
  const started = performance.now();
  try {
    const insert = (table: string) => ws.engine.command(`INSERT INTO ${quoteIdent(table)}\n${rendered.sql}`, { settings: { max_execution_time: 3600, ...rendered.settings } });
    let written: number;
    if (mode === 'replace') {
      // Fill a copy and swap it in: readers never see the target empty, and a failed copy leaves it as it was.
      const definition = tableSpec(ws.project.datasources.get(target)!, ws.engine.caps, target, ws.engine.version);
      written = await refillTable(ws.engine, target, `${target}__copy_${Date.now().toString(36)}`, definition, async (staging) => {
        await insert(staging);
        return count(staging);
      });
    } else {
      const before = await count(target);
      await insert(target);
      written = (await count(target)) - before;
    }
    sendJson(res, 200, { pipe: name, target, mode, status: 'done', rows_written: written, elapsed: (performance.now() - started) / 1000 }, { 'x-request-id': req.requestId });
  } catch (err) {
    throw new HttpError(400, `copy ${name} -> ${target} failed: ${toEngineError(err).message}`);
  }
}
