// Engine settings → ClickHouse ENGINE clause (spec 2.4), and the checks that need only the schema.
import type { Reporter } from './errors.js';
import { splitTopLevel } from './schema.js';
import type { Column, EngineSpec, SourcePos } from './types.js';

export const SUPPORTED_ENGINES = [
  'MergeTree',
  'ReplacingMergeTree',
  'SummingMergeTree',
  'AggregatingMergeTree',
  'CollapsingMergeTree',
  'VersionedCollapsingMergeTree',
  'Null',
] as const;

/** The ClickHouse spelling of an engine name written in any case (`mergetree`, `"Null()"`), or undefined. */
export function normaliseEngine(name: string): string | undefined {
  const bare = name.trim().replace(/\(\s*\)$/, '');
  return SUPPORTED_ENGINES.find((e) => e.toLowerCase() === bare.toLowerCase());
}

function engineParams(spec: EngineSpec): string[] {
  switch (spec.type) {
    case 'ReplacingMergeTree':
      return spec.ver ? (spec.isDeleted ? [spec.ver, spec.isDeleted] : [spec.ver]) : [];
    case 'CollapsingMergeTree':
      return spec.sign ? [spec.sign] : [];
    case 'VersionedCollapsingMergeTree':
      return [spec.sign, spec.version].filter((x): x is string => !!x);
    case 'SummingMergeTree':
      return spec.summingColumns ? [spec.summingColumns] : [];
    default:
      return [];
  }
}

/** `Engine(params) PARTITION BY (p) ORDER BY (s) PRIMARY KEY (k) SAMPLE BY (x) TTL (t) SETTINGS s`. */
export function engineClause(spec: EngineSpec): string {
  if (spec.type === 'Null') return 'Null()';
  const parts = [`${spec.type}(${engineParams(spec).join(', ')})`];
  const v = (x: string | undefined) => (x !== undefined && x.trim() !== '' ? x.trim() : undefined);
  if (v(spec.partitionKey)) parts.push(`PARTITION BY (${v(spec.partitionKey)})`);
  parts.push(`ORDER BY (${v(spec.sortingKey) ?? 'tuple()'})`);
  if (v(spec.primaryKey)) parts.push(`PRIMARY KEY (${v(spec.primaryKey)})`);
  if (v(spec.samplingKey)) parts.push(`SAMPLE BY (${v(spec.samplingKey)})`);
  if (v(spec.ttl)) parts.push(`TTL (${v(spec.ttl)})`);
  if (v(spec.settings)) parts.push(`SETTINGS ${v(spec.settings)}`);
  return parts.join(' ');
}

const AGGREGATES = ['sum', 'count', 'avg', 'min', 'max', 'any', 'grouparray', 'groupuniqarray', 'uniq'];

/** The parts of a sorting key: outer `tuple(...)`/parentheses removed, split on top-level commas. */
export function sortingKeyParts(key: string): string[] {
  let k = key.trim();
  const t = /^tuple\s*\(([\s\S]*)\)$/i.exec(k) ?? /^\(([\s\S]*)\)$/.exec(k);
  if (t && balanced(t[1]!)) k = t[1]!;
  return splitTopLevel(k);
}

function balanced(s: string): boolean {
  let d = 0;
  for (const c of s) {
    if (c === '(') d++;
    else if (c === ')' && --d < 0) return false;
  }
  return d === 0;
}

const bareColumn = (part: string): string | undefined => {
  const m = /^`([^`]+)`$/.exec(part) ?? /^([A-Za-z_][A-Za-z0-9_.]*)$/.exec(part);
  return m?.[1];
};

/** Engine checks of spec 2.1 that only need the schema. */
export function validateEngine(
  spec: EngineSpec,
  columns: Column[],
  rep: Reporter,
  schemaPos: SourcePos,
  /** False when SCHEMA had errors: then a missing column is not reported again. */
  schemaComplete = true,
): void {
  const known = schemaComplete && columns.length > 0;
  const at = (kw: string): SourcePos => spec.positions[kw] ?? spec.positions.ENGINE ?? schemaPos;
  const byName = new Map(columns.map((c) => [c.name, c]));
  const sk = spec.sortingKey?.trim();
  const isTuple = sk === undefined || sk === '' || /^tuple\s*\(\s*\)$/i.test(sk);

  if (spec.type === 'ReplacingMergeTree' || spec.type === 'CollapsingMergeTree') {
    if (sk === undefined || sk === '') rep.error(at('ENGINE'), "Missing required option 'sorting_key'");
    else if (isTuple)
      rep.error(at('ENGINE_SORTING_KEY'), "Invalid value 'tuple()' for option 'sorting_key', reason: 'tuple()' is not a valid sorting key");
  }
  const params: [string, string, string | undefined][] = [
    ['ENGINE_VER', 'engine_ver', spec.ver],
    ['ENGINE_IS_DELETED', 'engine_is_deleted', spec.isDeleted],
    ['ENGINE_SIGN', 'engine_sign', spec.sign],
    ['ENGINE_VERSION', 'engine_version', spec.version],
  ];
  const applies: Record<string, string[]> = {
    ENGINE_VER: ['ReplacingMergeTree'],
    ENGINE_IS_DELETED: ['ReplacingMergeTree'],
    ENGINE_SIGN: ['CollapsingMergeTree', 'VersionedCollapsingMergeTree'],
    ENGINE_VERSION: ['VersionedCollapsingMergeTree'],
  };
  for (const [kw, param, value] of params) {
    if (value === undefined) continue;
    if (!applies[kw]!.includes(spec.type)) {
      rep.warn(at(kw), `${kw} is ignored for engine ${spec.type}`, `it applies to ${applies[kw]!.join(', ')}`);
      continue;
    }
    if (known && !byName.has(value))
      rep.error(at(kw), `Invalid value '${value}' for parameter '${param}', reason: '${value}' column is not present in schema`);
  }
  if (spec.type === 'ReplacingMergeTree' && spec.isDeleted !== undefined && spec.ver === undefined)
    rep.error(at('ENGINE_IS_DELETED'), 'ENGINE_IS_DELETED requires ENGINE_VER', 'ReplacingMergeTree uses is_deleted only together with a version column');
  if (spec.type === 'CollapsingMergeTree' && !spec.sign) rep.error(at('ENGINE'), "Missing required option 'sign'", 'set ENGINE_SIGN');
  if (spec.type === 'VersionedCollapsingMergeTree') {
    if (!spec.sign) rep.error(at('ENGINE'), "Missing required option 'sign'", 'set ENGINE_SIGN');
    if (!spec.version) rep.error(at('ENGINE'), "Missing required option 'version'", 'set ENGINE_VERSION');
  }
  if (spec.summingColumns !== undefined) {
    const kw = spec.positions.ENGINE_SUMMING_COLUMNS ? 'ENGINE_SUMMING_COLUMNS' : 'ENGINE_COLUMNS';
    if (spec.type !== 'SummingMergeTree') rep.warn(at(kw), `${kw} is ignored for engine ${spec.type}`, 'it applies to SummingMergeTree');
    else
      for (const part of splitTopLevel(spec.summingColumns)) {
        const c = bareColumn(part) ?? part;
        if (known && !byName.has(c))
          rep.error(at(kw), `Invalid value '${c}' for parameter 'engine_columns', reason: '${c}' column is not present in schema`);
      }
  }

  if (spec.type === 'Null' || isTuple) return;
  const skPos = at('ENGINE_SORTING_KEY');
  for (const part of sortingKeyParts(sk!)) {
    const call = /^([A-Za-z_][A-Za-z0-9_]*)\s*\(/.exec(part);
    if (call) {
      const f = call[1]!.toLowerCase().replace(/merge$/, '');
      if (AGGREGATES.includes(f))
        rep.error(skPos, `Sorting key contains aggregate function expression '${part}'. Aggregate function expressions cannot be used in sorting keys.`);
      continue;
    }
    const name = bareColumn(part);
    if (name === undefined) continue;
    const col = byName.get(name);
    if (!col) {
      if (known) rep.error(skPos, `Sorting key references column '${name}', which is not present in schema`);
      continue;
    }
    if (col.nullable)
      rep.error(skPos, `Sorting key contains nullable column '${name}'. Nullable columns cannot be used in sorting keys.`);
    if (/^AggregateFunction\s*\(/i.test(col.type))
      rep.error(skPos, `Sorting key contains column '${name}' with AggregateFunction type. AggregateFunction columns cannot be used in sorting keys.`);
    if (spec.type === 'ReplacingMergeTree' && spec.ver !== undefined && name === spec.ver)
      rep.error(
        skPos,
        `ENGINE_VER column '${name}' is part of the sorting key. Including the version column in the sorting key prevents deduplication`,
        'remove it from ENGINE_SORTING_KEY',
      );
  }
}
