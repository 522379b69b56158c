// Issue 12a: one event nested thousands of levels deep must cost one quarantined row, never the request.
// JSON.parse copes with any depth; JSON.stringify (String columns, `$`, quarantine text) overflowed the stack,
// which failed the whole body with a 500. Checked in the request thread and on the conversion workers, for
// NDJSON, JSON array and single-object bodies.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestedDeeperThan } from '../../cli/src/ingest/body.js';
import { ConvertPool, WORKER_MIN_BYTES } from '../../cli/src/ingest/convert-pool.js';
import { convertBody, type ConvertOptions, type Converted } from '../../cli/src/ingest/convert.js';
import { IngestError } from '../../cli/src/ingest/errors.js';
import { TargetPlan } from '../../cli/src/ingest/plan.js';
import { col } from '../helpers/ingest-fixture.js';

// `payload` is a String column: a nested object there is stored as its JSON text, i.e. stringified.
const plan = new TargetPlan([col('id', 'UInt32'), col('payload', 'String'), col('whole', 'String', { jsonpath: '$' })]);
const opts: ConvertOptions = { maxBodyBytes: 10 * 1024 * 1024, nowSec: 1_700_000_000, maxReasons: 100 };
const pool = new ConvertPool(1, () => {});
afterAll(() => pool.close());

const nestedObject = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const nestedArray = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
/** An event whose `payload` holds `inner`: one level for the event itself. */
const deepEvent = (id: number, inner: string) => `{"id":${id},"payload":${inner}}`;
const good = (id: number) => JSON.stringify({ id, payload: 'ok' });
const text = (u: Uint8Array | null) => (u ? Buffer.from(u).toString('utf8') : '');

function padToWorkerSize(lines: string[]): string[] {
  const out = [...lines];
  for (let i = 1000; Buffer.byteLength(out.join('\n')) < WORKER_MIN_BYTES; i++) out.push(good(i));
  return out;
}

function expectOneTooDeep(r: Converted, line: number): void {
  expect(r.badRows).toBe(1);
  expect(r.reasons).toEqual([{ line, error: expect.stringMatching(/nested more than 1000 levels deep/) }]);
  expect(text(r.bad)).toContain('nested more than 1000 levels deep');
}

describe('deeply nested events', () => {
  for (const [shape, inner] of [['objects', nestedObject(5000)], ['arrays', nestedArray(5000)]] as const) {
    it(`quarantines only the NDJSON line nested 5,000 levels deep (${shape}), keeping the others`, () => {
      const r = convertBody(plan, Buffer.from([good(1), deepEvent(2, inner), good(3)].join('\n')), opts);
      expect(r.goodRows).toBe(2);
      expectOneTooDeep(r, 2);
      expect(text(r.good)).toContain('"id":1,');
      expect(text(r.good)).toContain('"id":3,');
    });
  }

  it('quarantines a deep line that maps to no column too: the limit is per event, not per column', () => {
    const r = convertBody(new TargetPlan([col('id', 'UInt32')]), Buffer.from([good(1), `{"id":2,"x":${nestedArray(100_000)}}`].join('\n')), opts);
    expect(r.goodRows).toBe(1);
    expectOneTooDeep(r, 2);
  });

  it('does the same on a conversion worker for a body large enough to go there', async () => {
    const body = Buffer.from(padToWorkerSize([good(1), deepEvent(2, nestedObject(5000)), good(3)]).join('\n'));
    expect(body.length).toBeGreaterThanOrEqual(WORKER_MIN_BYTES);
    const r = await pool.convert(plan, body, opts);
    expect(r.goodRows).toBe(2);
    expectOneTooDeep(r, 2);
  });

  it('quarantines the deep element of a JSON array body, with its own text, and keeps the others', async () => {
    const deep = deepEvent(2, nestedObject(5000));
    const small = Buffer.from(`[${good(1)}, ${deep} ,${good(3)}]`);
    const large = Buffer.from(`[${padToWorkerSize([good(1), deep, good(3)]).join(',')}]`);
    for (const r of [convertBody(plan, small, opts), await pool.convert(plan, large, opts)]) {
      expect(r.goodRows).toBeGreaterThanOrEqual(2);
      expectOneTooDeep(r, 2);
      expect(text(r.bad)).toContain(JSON.stringify(deep).slice(0, 40)); // c__line is the element's text
    }
  });

  it('refuses a single-object body nested too deep with a 400 that says why (it has no other event)', () => {
    expect(() => convertBody(plan, Buffer.from(deepEvent(1, nestedObject(5000))), opts)).toThrow(
      expect.objectContaining({ status: 400, message: expect.stringMatching(/line 1: JSON nested more than 1000 levels deep/) }),
    );
  });

  it('accepts an event exactly at the limit and converts its nested value', () => {
    const r = convertBody(plan, Buffer.from(deepEvent(1, nestedArray(MAX_JSON_DEPTH - 1))), opts);
    expect(r).toMatchObject({ goodRows: 1, badRows: 0 });
    const r2 = convertBody(plan, Buffer.from([good(0), deepEvent(1, nestedArray(MAX_JSON_DEPTH))].join('\n')), opts);
    expect(r2).toMatchObject({ goodRows: 1, badRows: 1 });
  });

  it('measures depth outside strings only', () => {
    const brackets = '['.repeat(3000);
    expect(nestedDeeperThan(JSON.stringify({ s: brackets, t: 'a\\"[[' }), 2)).toBe(false);
    expect(nestedDeeperThan(`{"s":"\\\\",${'['.repeat(3)}${']'.repeat(3)}}`, 3)).toBe(true);
  });

  it('never throws out of the converter, whatever the nesting depth and shape (property)', async () => {
    const nesting = fc.record({
      depth: fc.integer({ min: 0, max: 20_000 }),
      opener: fc.constantFrom('[', '{"k":', '{"payload":', '[1,', '{"a":"]}","b":'),
    }).map(({ depth, opener }) => {
      const closer = opener.startsWith('[') ? ']' : '}';
      return deepEvent(7, opener.repeat(depth) + '0' + closer.repeat(depth));
    });
    await fc.assert(
      fc.asyncProperty(fc.array(nesting, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean(), async (lines, asArray, viaWorker) => {
        const all = [good(1), ...lines];
        const items = viaWorker ? padToWorkerSize(all) : all;
        const body = Buffer.from(asArray ? `[${items.join(',')}]` : items.join('\n'));
        const r = await pool.convert(plan, body, opts).catch((e: unknown) => e);
        expect(r).not.toBeInstanceOf(IngestError);
        expect(r).not.toBeInstanceOf(Error);
        const converted = r as Converted;
        expect(converted.goodRows + converted.badRows).toBe(items.length);
        expect(converted.goodRows).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 40 },
    );
  });
});
