// In `dev`, a copy run by hand (POST /v0/pipes/<pipe>/copy) while a datasource replace of its target is uploading
// takes its turn after the replace (Workspace.serialized: dev's rebuild queue), so its rows land in the new table.
// Before, the copy appended to the table the replace then swapped out, and its rows were lost.
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { startDev, type DevServer } from '../helpers/cli.js';
import { sql } from '../helpers/events-project.js';
import { useProjectFiles } from '../helpers/project-files.js';

const PROJECT: Record<string, string> = {
  'datasources/orders.datasource': 'SCHEMA >\n    `amount` UInt32 `json:$.amount`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "amount"\n',
  'datasources/order_totals.datasource': 'SCHEMA >\n    `taken` DateTime `json:$.taken`,\n    `total` UInt64 `json:$.total`\n\nENGINE "MergeTree"\nENGINE_SORTING_KEY "taken"\n',
  'pipes/snapshot_orders.pipe':
    'NODE snap\nSQL >\n    SELECT now() AS taken, toUInt64(sum(amount)) AS total FROM orders\n\nTYPE copy\nTARGET_DATASOURCE order_totals\nCOPY_SCHEDULE @on-demand\n',
};

/** A mode=replace upload of `first`, then after `pauseMs` of `rest`: the replace is running during the pause. */
function slowReplace(dev: DevServer, datasource: string, first: string, rest: string, pauseMs: number): Promise<{ status: number; body: string; at: number }> {
  const boundary = 'emailstats-test-boundary';
  const url = new URL(`${dev.url}/v0/datasources?name=${datasource}&mode=replace`);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { authorization: `Bearer ${dev.token}`, 'content-type': `multipart/form-data; boundary=${boundary}` } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, at: performance.now() }));
    });
    req.on('error', reject);
    req.write(`--${boundary}\r\nContent-Disposition: form-data; name="ndjson"; filename="rows.ndjson"\r\nContent-Type: application/x-ndjson\r\n\r\n${first}`);
    void sleep(pauseMs).then(() => req.end(`${rest}\r\n--${boundary}--\r\n`));
  });
}

describe('dev: a copy sent while a replace of its target runs', () => {
  const write = useProjectFiles('dev-replace-copy');
  let dev: DevServer | undefined;
  afterAll(async () => {
    await dev?.stop();
  });

  it('runs after the replace, and its rows are kept', async () => {
    dev = await startDev(write(PROJECT), ['--flush-interval-ms', '20']);
    const auth = { authorization: `Bearer ${dev.token}` };
    const posted = await fetch(`${dev.url}/v0/events?name=orders&wait=true`, { method: 'POST', headers: auth, body: '{"amount":5}\n{"amount":7}\n' });
    expect(posted.status).toBe(200);

    const replace = slowReplace(dev, 'order_totals', '{"taken":"2025-01-01 00:00:00","total":1}\n', '{"taken":"2025-01-02 00:00:00","total":2}\n', 3000);
    await sleep(1000); // the replace has its first row and waits for the rest (dev shows no sign of it to wait for)
    const copy = fetch(`${dev.url}/v0/pipes/snapshot_orders/copy`, { method: 'POST', headers: auth }).then(async (r) => ({ status: r.status, body: await r.text(), at: performance.now() }));
    const [replaced, copied] = await Promise.all([replace, copy]);
    expect(replaced.status, replaced.body).toBe(200);
    expect(JSON.parse(replaced.body)).toMatchObject({ mode: 'replace', successful_rows: 2 });
    expect(copied.status, copied.body).toBe(200);
    expect(JSON.parse(copied.body)).toMatchObject({ rows_written: 1 });
    // The copy waited for the replace to end, and its row is in the table the replace left.
    expect(copied.at).toBeGreaterThan(replaced.at);
    const rows = await sql<{ total: number }>(dev.url, dev.token, 'SELECT total FROM order_totals ORDER BY total');
    expect(rows.map((r) => Number(r.total))).toEqual([1, 2, 12]);
  }, 60_000);
});
