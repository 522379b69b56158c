// The columns a connector adds to its datasource by itself, without a SCHEMA line: Kafka's metadata columns,
// the import time of Classic warehouse imports (BigQuery, Snowflake), DynamoDB's change-stream columns. Tinybird
// creates them, so sorting keys and pipes may use them; emailstats adds them to the schema the same way.
import type { Column, SourcePos } from './types.js';

interface Implicit {
  name: string;
  type: string;
  default?: string;
}

// Tinybird's documented Kafka columns; `__headers` only with KAFKA_STORE_HEADERS True.
const KAFKA: Implicit[] = [
  { name: '__value', type: 'String' },
  { name: '__topic', type: 'LowCardinality(String)' },
  { name: '__partition', type: 'Int16' },
  { name: '__offset', type: 'Int64' },
  { name: '__timestamp', type: 'DateTime', default: 'now()' },
  { name: '__key', type: 'String' },
];
const KAFKA_HEADERS: Implicit = { name: '__headers', type: 'Map(String, String)' };
const WAREHOUSE: Implicit[] = [{ name: 'insertion_date', type: 'DateTime', default: 'now()' }];
const DYNAMODB: Implicit[] = [
  { name: '_timestamp', type: 'DateTime64(3)', default: 'now64(3)' },
  { name: '_is_deleted', type: 'UInt8' },
];

const service = (connector: Record<string, string>): string => (connector.IMPORT_SERVICE ?? '').toLowerCase();

/** True for Classic imports that read a warehouse or DynamoDB rather than files in a bucket. */
export function isWarehouseImport(connector: Record<string, string>): boolean {
  return ['bigquery', 'snowflake', 'dynamodb'].includes(service(connector)) || 'IMPORT_QUERY' in connector || 'IMPORT_TABLE_ARN' in connector;
}

/** Which connector feeds the datasource, as far as its implicit columns go. */
function implicitFor(connector: Record<string, string>): { label: string; columns: Implicit[]; keyword: string } | undefined {
  if ('KAFKA_CONNECTION_NAME' in connector || 'KAFKA_TOPIC' in connector) {
    const headers = (connector.KAFKA_STORE_HEADERS ?? '').toLowerCase() === 'true';
    return { label: 'Kafka', columns: headers ? [...KAFKA, KAFKA_HEADERS] : KAFKA, keyword: 'KAFKA_CONNECTION_NAME' };
  }
  if (service(connector) === 'dynamodb' || 'IMPORT_TABLE_ARN' in connector) return { label: 'DynamoDB', columns: DYNAMODB, keyword: 'IMPORT_TABLE_ARN' };
  if (['bigquery', 'snowflake'].includes(service(connector)) || 'IMPORT_QUERY' in connector)
    return { label: service(connector) === 'snowflake' ? 'Snowflake' : 'BigQuery', columns: WAREHOUSE, keyword: 'IMPORT_QUERY' };
  return undefined;
}

/** The schema with the connector's implicit columns appended, those the SCHEMA declares itself left as written. */
export function addImplicitColumns(columns: Column[], connector: Record<string, string>, positions: Record<string, SourcePos>): Column[] {
  const feed = implicitFor(connector);
  if (!feed) return columns;
  const declared = new Set(columns.map((c) => c.name));
  const pos = positions[feed.keyword] ?? Object.values(positions)[0] ?? { line: 1, col: 1 };
  const added = feed.columns
    .filter((c) => !declared.has(c.name))
    .map((c): Column => ({ name: c.name, type: c.type, nullable: false, ...(c.default ? { default: c.default } : {}), implicit: feed.label, pos }));
  return [...columns, ...added];
}
