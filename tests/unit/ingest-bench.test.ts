// Throughput measurements (printed, not asserted): Events API path vs the engine loading NDJSON directly.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ingestor, type IngestTarget } from '../../cli/src/ingest/index.js';
import { ChdbTestEngine } from '../helpers/chdb-engine.js';
import { col, count, createTarget, tempDir } from '../helpers/ingest-fixture.js';

let engine: ChdbTestEngine;
let t: IngestTarget;
const cols = [
  col('event_id', 'UUID'), col('timestamp', 'DateTime'), col('campaign_id', 'String'), col('email', 'String'),
  col('event_type', "Enum8('sent' = 1, 'open' = 2, 'click' = 3)"), col('country', 'LowCardinality(String)'),
  col('user_agent', 'String'), col('url', 'Nullable(String)'), col('amount', 'Float64'), col('tags', 'Array(String)'),
];
const ev = (i: number) =>
  JSON.stringify({
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, timestamp: 1714557600 + i, campaign_id: `c${i % 50}`,
    email: `user${i}@example.com`, event_type: ['sent', 'open', 'click'][i % 3], country: ['US', 'DE', 'FR'][i % 3],
    user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36', url: i % 3 === 2 ? `https://x.io/${i}` : null, amount: i / 100, tags: ['a', 'b'],
  });

beforeAll(async () => {
  engine = new ChdbTestEngine(tempDir('bench-db'));
  t = await createTarget(engine, 'bench', cols);
  await createTarget(engine, 'bench_direct', cols);
});
afterAll(async () => {
  await engine.close();
});

it('measures throughput', async () => {
  const BODIES = 100, PER = 1000;
  const bodies = Array.from({ length: BODIES }, (_, b) => Buffer.from(Array.from({ length: PER }, (_, i) => ev(b * PER + i)).join('\n')));
  const ing = new Ingestor({ engine, walDir: tempDir('bench-wal') });
  let t0 = performance.now();
  for (const b of bodies) await ing.ingest(t, b, {});
  const accept = performance.now() - t0;
  await ing.flush();
  const total = performance.now() - t0;
  expect(await count(engine, 'SELECT count() AS c FROM bench')).toBe(BODIES * PER);

  const file = join(tempDir('bench-file'), 'all.ndjson');
  writeFileSync(file, bodies.map((b) => b.toString() + '\n').join(''));
  t0 = performance.now();
  await engine.insertNdjsonFile('bench_direct', file);
  const direct = performance.now() - t0;

  const SINGLE = 5000, CONC = 50;
  let next = 0;
  t0 = performance.now();
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (next < SINGLE) await ing.ingest(t, Buffer.from(ev(1_000_000 + next++)), {});
  }));
  const single = performance.now() - t0;
  await ing.flush();
  const n = BODIES * PER;
  console.log(
    `ingest bench (${n} events, 1000-event bodies): accepted (fsync'd) ${Math.round(n / (accept / 1000))} ev/s, ` +
      `in ClickHouse ${Math.round(n / (total / 1000))} ev/s; direct NDJSON file load ${Math.round(n / (direct / 1000))} ev/s; ` +
      `single-event calls at concurrency ${CONC}: ${Math.round(SINGLE / (single / 1000))} calls/s (${ing.stats().fsyncs} fsyncs total)`,
  );
  await ing.close();
}, 120_000);
