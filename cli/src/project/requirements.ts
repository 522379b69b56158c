// What each ClickHouse type or clause of a datasource needs from the server, so DDL fails early with a message
// naming the feature and the version instead of a parser error from an old server.
import type { DatasourceFile } from '../datafile/types.js';
import { atLeast, CAPABILITY_VERSIONS, needsVersionMessage } from '../engine/capabilities.js';
import type { ServerVersion } from '../engine/types.js';

interface Requirement {
  pattern: RegExp;
  feature: string;
  since: string;
}

const TYPE_REQUIREMENTS: Requirement[] = [
  { pattern: /\bDateTime64\b/, feature: 'DateTime64 columns', since: CAPABILITY_VERSIONS.dateTime64 },
  { pattern: /\bLowCardinality\b/, feature: 'LowCardinality columns', since: CAPABILITY_VERSIONS.lowCardinality },
  { pattern: /\bBool\b/, feature: 'Bool columns', since: '21.12' },
  { pattern: /\bMap\s*\(/, feature: 'Map columns', since: '21.1' },
  { pattern: /\bDate32\b/, feature: 'Date32 columns', since: '21.9' },
  { pattern: /\bU?Int(128|256)\b/, feature: '128/256-bit integer columns', since: '20.8' },
  { pattern: /\bIPv[46]\b/, feature: 'IPv4/IPv6 columns', since: '19.3' },
  { pattern: /\bJSON\b|\bObject\s*\(/, feature: 'JSON columns', since: '22.3' },
];

export interface RequirementFailure {
  message: string;
  line: number;
  col: number;
}

/** Every feature of a datasource that the connected server cannot run. */
export function unmetRequirements(ds: DatasourceFile, v: ServerVersion): RequirementFailure[] {
  const out: RequirementFailure[] = [];
  for (const col of ds.columns) {
    for (const req of TYPE_REQUIREMENTS) {
      if (req.pattern.test(col.type) && !atLeast(v, req.since)) out.push({ message: `column ${col.name}: ${needsVersionMessage(req.feature, req.since, v)}`, ...col.pos });
    }
  }
  const ttlPos = ds.engine.positions.ENGINE_TTL;
  if (ds.engine.ttl && !atLeast(v, CAPABILITY_VERSIONS.ttl)) out.push({ message: needsVersionMessage('ENGINE_TTL (table TTL)', CAPABILITY_VERSIONS.ttl, v), line: ttlPos?.line ?? 1, col: ttlPos?.col ?? 1 });
  if (ds.indexes.length > 0 && !atLeast(v, '19.6')) {
    const ix = ds.indexes[0];
    out.push({ message: needsVersionMessage('INDEXES (data skipping indexes)', '19.6', v), line: ix.pos.line, col: ix.pos.col });
  }
  return out;
}
