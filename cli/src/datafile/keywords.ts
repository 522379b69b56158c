// Keyword tables per datafile kind (spec 2.1, 2.6, 3.1) and the deprecations shared by the parsers.

export type DatafileKind = 'datasource' | 'pipe' | 'connection';

export const KAFKA_DS_KEYWORDS = [
  'KAFKA_CONNECTION_NAME',
  'KAFKA_TOPIC',
  'KAFKA_GROUP_ID',
  'KAFKA_AUTO_OFFSET_RESET',
  'KAFKA_STORE_RAW_VALUE',
  'KAFKA_STORE_HEADERS',
  'KAFKA_KEY_FORMAT',
  'KAFKA_VALUE_FORMAT',
];
export const IMPORT_DS_KEYWORDS = [
  'IMPORT_CONNECTION_NAME',
  'IMPORT_BUCKET_URI',
  'IMPORT_SCHEDULE',
  'IMPORT_FROM_TIMESTAMP',
  'IMPORT_TABLE_ARN',
  'IMPORT_EXPORT_BUCKET',
  'IMPORT_QUERY',
];
export const ENGINE_KEYWORDS = [
  'ENGINE',
  'ENGINE_SORTING_KEY',
  'ENGINE_PARTITION_KEY',
  'ENGINE_PRIMARY_KEY',
  'ENGINE_SAMPLING_KEY',
  'ENGINE_TTL',
  'ENGINE_SETTINGS',
  'ENGINE_VER',
  'ENGINE_IS_DELETED',
  'ENGINE_SIGN',
  'ENGINE_VERSION',
  'ENGINE_COLUMNS',
  'ENGINE_SUMMING_COLUMNS',
];

/** Deprecated keywords that are errors, with Tinybird's messages. */
export const DEPRECATED_ERRORS: Record<string, string> = {
  SOURCE: 'SOURCE has been deprecated',
};

/**
 * Deprecated settings Tinybird Forward refuses but Classic projects use: warnings, so a Classic project still
 * loads. Tinybird's message, then what emailstats does.
 */
export const CLASSIC_DEPRECATIONS: Record<string, string> = {
  IMPORT_STRATEGY: "IMPORT_STRATEGY has been deprecated. It is now fixed to 'append'",
  KAFKA_STORE_BINARY_HEADERS:
    'KAFKA_STORE_BINARY_HEADERS has been deprecated. When KAFKA_STORE_HEADERS is True, __headers is always of type Map(String, String)',
  KAFKA_KEY_AVRO_DESERIALIZATION:
    'KAFKA_KEY_AVRO_DESERIALIZATION has been deprecated. Use "KAFKA_KEY_FORMAT avro" in the corresponding .datasource file instead',
};

const CONNECTION_HINT = " If you're using an S3 or GCS connection, you don't need this setting anymore.";
/** Deprecated keywords that only warn. */
export const DEPRECATED_WARNINGS: Record<string, string> = {
  VERSION: 'VERSION has been deprecated and will be ignored.',
  KAFKA_TARGET_PARTITIONS: 'KAFKA_TARGET_PARTITIONS has been deprecated and will be ignored.',
  IMPORT_SERVICE: 'IMPORT_SERVICE has been deprecated and will be ignored.' + CONNECTION_HINT,
  IMPORT_EXTERNAL_DATASOURCE: 'IMPORT_EXTERNAL_DATASOURCE has been deprecated and will be ignored.',
  EXPORT_SERVICE: 'EXPORT_SERVICE has been deprecated and will be ignored.' + CONNECTION_HINT,
};

export const DATASOURCE_KEYWORDS = new Set([
  'DESCRIPTION',
  'SCHEMA',
  'INDEXES',
  ...ENGINE_KEYWORDS,
  'TOKEN',
  'SHARED_WITH',
  'FORWARD_QUERY',
  'BACKFILL',
  'SHARDING_KEY',
  'TAGS',
  ...KAFKA_DS_KEYWORDS,
  ...IMPORT_DS_KEYWORDS,
  'KAFKA_TARGET_PARTITIONS',
  'KAFKA_STORE_BINARY_HEADERS',
  'KAFKA_KEY_AVRO_DESERIALIZATION',
  'IMPORT_STRATEGY',
  'IMPORT_SERVICE',
  'IMPORT_EXTERNAL_DATASOURCE',
  'SOURCE',
  'VERSION',
  'INCLUDE',
  'SETTINGS',
]);

export const EXPORT_KEYWORDS = [
  'EXPORT_CONNECTION_NAME',
  'EXPORT_SCHEDULE',
  'EXPORT_BUCKET_URI',
  'EXPORT_FILE_TEMPLATE',
  'EXPORT_FORMAT',
  'EXPORT_STRATEGY',
  'EXPORT_COMPRESSION',
  'EXPORT_WRITE_STRATEGY',
  'EXPORT_KAFKA_TOPIC',
];

export const NODE_ATTRIBUTES = [
  'TYPE',
  'DATASOURCE',
  'TARGET_DATASOURCE',
  'COPY_SCHEDULE',
  'COPY_MODE',
  'MODE',
  'FILTER',
  'DEPLOYMENT_METHOD',
  ...EXPORT_KEYWORDS,
  // Classic CLI: a materialized node may define its target datasource's engine (the schema is the node's output).
  ...ENGINE_KEYWORDS,
];

export const PIPE_KEYWORDS = new Set([
  'NODE',
  'SCOPE',
  'DESCRIPTION',
  'SQL',
  ...NODE_ATTRIBUTES,
  'TOKEN',
  'TAGS',
  'CACHE',
  'INCLUDE',
  'VERSION',
  'EXPORT_SERVICE',
]);

/** Aliases map to the canonical setting name. */
export const CONNECTION_ALIASES: Record<string, string> = {
  GCS_ACCESS_ID: 'GCS_HMAC_ACCESS_ID',
  GCS_SECRET: 'GCS_HMAC_SECRET',
};

export const CONNECTION_KEYWORDS = new Set([
  'DESCRIPTION',
  'TYPE',
  'KAFKA_BOOTSTRAP_SERVERS',
  'KAFKA_KEY',
  'KAFKA_SECRET',
  'KAFKA_SCHEMA_REGISTRY_URL',
  'KAFKA_SSL_CA_PEM',
  'KAFKA_SECURITY_PROTOCOL',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_OAUTHBEARER_METHOD',
  'KAFKA_SASL_OAUTHBEARER_AWS_REGION',
  'KAFKA_SASL_OAUTHBEARER_AWS_ROLE_ARN',
  'KAFKA_SASL_OAUTHBEARER_AWS_EXTERNAL_ID',
  'S3_REGION',
  'S3_ARN',
  'S3_ACCESS_KEY',
  'S3_SECRET',
  'GCS_SERVICE_ACCOUNT_CREDENTIALS_JSON',
  'GCS_HMAC_ACCESS_ID',
  'GCS_ACCESS_ID',
  'GCS_HMAC_SECRET',
  'GCS_SECRET',
  'INCLUDE',
]);

/** Connection settings whose values may span lines. */
export const CONNECTION_MULTILINE = new Set(['DESCRIPTION', 'KAFKA_SSL_CA_PEM', 'GCS_SERVICE_ACCOUNT_CREDENTIALS_JSON']);

/** Internal service tables (queried as `tinybird.<name>`) that resources must not shadow. */
export const INTERNAL_TABLES = [
  'datasources_ops_log',
  'pipe_stats',
  'pipe_stats_rt',
  'block_log',
  'data_connectors_log',
  'kafka_ops_log',
  'datasources_storage',
  'endpoint_errors',
  'bi_stats_rt',
  'bi_stats',
];

/** Physical table behind `tinybird.pipe_stats_rt` (the request log, server/request-log.ts), in the workspace database. */
export const PIPE_STATS_RT_TABLE = 'tinybird_pipe_stats_rt';
/** Physical table behind `tinybird.pipe_stats` (per pipe and day), and the view that fills it from the request log. */
export const PIPE_STATS_DAILY_TABLE = 'tinybird_pipe_stats';
export const PIPE_STATS_DAILY_VIEW = 'tinybird_pipe_stats_mv';
/** Physical table behind `tinybird.datasources_ops_log` (server/ops-log-table.ts). */
export const OPS_LOG_TABLE = 'tinybird_datasources_ops_log';

/**
 * The tables emailstats keeps the service data sources it computes in, in the workspace database: a resource of
 * one of these names would take their place.
 */
export const SERVICE_PHYSICAL_TABLES = [PIPE_STATS_RT_TABLE, PIPE_STATS_DAILY_TABLE, PIPE_STATS_DAILY_VIEW, OPS_LOG_TABLE];
