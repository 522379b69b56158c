// The block-parallel email writer: the same bytes with 0, 1 or 2 worker threads as the sequential generator,
// exact row counts that end inside a block, and an output error surfaces instead of hanging (a dying worker
// is util/worker-pool.ts's job: tests/unit/worker-pool.test.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateEmailEvents } from '../../cli/src/mock/email.js';
import { writeEmailNdjson } from '../../cli/src/mock/parallel.js';

const dir = mkdtempSync(path.join(tmpdir(), 'mock-parallel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sequential = (rows: number, seed: string | number): string => {
  let s = '';
  for (const e of generateEmailEvents({ rows, seed })) s += JSON.stringify(e) + '\n';
  return s;
};

describe('writeEmailNdjson', () => {
  it('writes the same bytes with 0, 1 and 2 workers, equal to the sequential generator', async () => {
    // 123,457 rows: not a block boundary, and past the planned pass into the top-up.
    const rows = 123_457;
    const want = sequential(rows, 'par');
    for (const workers of [0, 1, 2]) {
      const file = path.join(dir, `w${workers}.ndjson`);
      const res = await writeEmailNdjson({ rows, seed: 'par' }, file, { workers });
      const got = readFileSync(file, 'utf8');
      expect(res).toEqual({ rows, bytes: Buffer.byteLength(want) });
      expect(got === want, `workers=${workers}`).toBe(true);
    }
  }, 60_000);

  it('writes nothing for 0 rows and exactly 1 row for 1', async () => {
    const file = path.join(dir, 'small.ndjson');
    expect(await writeEmailNdjson({ rows: 0, seed: 1 }, file, { workers: 1 })).toEqual({ rows: 0, bytes: 0 });
    expect(readFileSync(file, 'utf8')).toBe('');
    await writeEmailNdjson({ rows: 1, seed: 1 }, file);
    expect(readFileSync(file, 'utf8')).toBe(sequential(1, 1));
  });

  it('reports an output error instead of hanging', async () => {
    await expect(writeEmailNdjson({ rows: 1000, seed: 1 }, path.join(dir, 'no/such/dir/x.ndjson'), { workers: 1 })).rejects.toThrow(/ENOENT/);
  });
});
