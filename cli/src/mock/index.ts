// Picks the generator for a datasource: the email-domain generator when the datasource declares itself an email
// event stream, otherwise the schema-driven generic one. See docs/mock-notes.md.
import type { Column, DatasourceFile } from '../datafile/types.js';
import { EMAIL_EVENT_COLUMNS, generateEmailEvents, type EmailEvent, type EmailMockOptions } from './email.js';
import { compileSchema, generateRows, setPath } from './generic.js';
import { Rng } from './random.js';
import type { MockFormat } from './write.js';

export { generateRows, compileSchema } from './generic.js';
export { generateEmailEvents, EVENT_TYPE_ALIASES, canonicalEventTypeSqlMap, canonicalEventTypeSql } from './email.js';
export { writeMock } from './write.js';
export { writeEmailNdjson } from './parallel.js';

/** The TAGS entry that marks a datasource as an email event stream, whatever its column names. */
export const EMAIL_STREAM_TAG = 'emailstats:email_events';
const REQUIRED_EMAIL_COLUMNS = ['event_id', 'timestamp', 'event_type', 'campaign_id'];

/**
 * A datasource is an email event stream when it carries `TAGS "emailstats:email_events"`, or when its columns include
 * event_id, timestamp, event_type, campaign_id and recipient_id or recipient_email (the seed schema's core).
 */
export function isEmailEventStream(ds: Pick<DatasourceFile, 'columns' | 'tags'>): boolean {
  if (ds.tags.some((t) => t.trim().toLowerCase() === EMAIL_STREAM_TAG)) return true;
  const names = new Set(ds.columns.map((c) => c.name));
  return REQUIRED_EMAIL_COLUMNS.every((n) => names.has(n)) && (names.has('recipient_id') || names.has('recipient_email'));
}

const EMAIL_FIELDS = new Set<string>(EMAIL_EVENT_COLUMNS);

/** In an email stream a non-email column with a DEFAULT is derived (e.g. a canonical event kind): leave it to the default. */
const derived = (c: Column): boolean => !EMAIL_FIELDS.has(c.name) && c.default !== undefined;

/**
 * True when the columns are the seed schema's ten fields with `$.<name>` (or no) jsonpaths, plus only derived
 * (DEFAULT) columns: events can then be written as lines directly.
 */
export function isSeedEmailSchema(columns: Column[]): boolean {
  const rest = columns.filter((c) => !derived(c));
  return (
    rest.length === EMAIL_EVENT_COLUMNS.length &&
    rest.every((c) => EMAIL_FIELDS.has(c.name) && (!c.jsonpath || c.jsonpath === `$.${c.name}`) && !/^(Nullable\()?(JSON|Object)/.test(c.type))
  );
}

/** Email events placed at the datasource's jsonpaths; other columns get generic values unless derived; missing fields are dropped. */
function* shapeEmailEvents(columns: Column[], events: Iterable<EmailEvent>, seed: string | number): Generator<Record<string, unknown>> {
  const { fields } = compileSchema(columns.filter((c) => !derived(c)), seed);
  const r = new Rng(`extra:${seed}`);
  const plan = fields.map((f) => ({
    f,
    email: EMAIL_FIELDS.has(f.column.name) ? (f.column.name as keyof EmailEvent) : null,
    // A JSON-typed metadata column takes the object, not its text.
    parse: f.column.name === 'metadata' && /JSON|Object/.test(f.column.type),
  }));
  for (const e of events) {
    const row: Record<string, unknown> = {};
    for (const p of plan) {
      const v = p.email ? (p.parse ? JSON.parse(e[p.email]) : e[p.email]) : p.f.gen.gen(r);
      setPath(row, p.f.path, v);
    }
    yield row;
  }
}

export interface MockPlan {
  kind: 'email' | 'generic';
  rows: Iterable<Record<string, unknown>>;
  /**
   * Set when the seed email schema is written as NDJSON: the lines can then be produced by `writeEmailNdjson`
   * (block-parallel, same bytes) instead of serializing `rows` here.
   */
  emailNdjson?: EmailMockOptions;
  /** Columns that get no value, with the reason (for a warning). */
  skipped: { column: string; reason: string }[];
}

export function planMock(ds: Pick<DatasourceFile, 'columns' | 'tags'>, opts: { rows: number; seed: string | number; format: MockFormat }): MockPlan {
  if (isEmailEventStream(ds)) {
    const { skipped } = compileSchema(ds.columns.filter((c) => !derived(c)), opts.seed);
    const events = generateEmailEvents({ rows: opts.rows, seed: opts.seed });
    if (isSeedEmailSchema(ds.columns)) {
      return {
        kind: 'email',
        rows: events as Iterable<unknown> as Iterable<Record<string, unknown>>,
        emailNdjson: opts.format === 'ndjson' ? { rows: opts.rows, seed: opts.seed } : undefined,
        skipped,
      };
    }
    return { kind: 'email', rows: shapeEmailEvents(ds.columns, events, opts.seed), skipped };
  }
  const { skipped } = compileSchema(ds.columns, opts.seed);
  return { kind: 'generic', rows: generateRows(ds.columns, opts), skipped };
}
