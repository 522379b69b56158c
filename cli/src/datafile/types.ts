// Typed model of parsed datafiles. Every element keeps its source position so that later stages
// (project validation, build, deploy) can report `file:line:col` errors.

/** 1-based line and column in the datafile. */
export interface SourcePos {
  line: number;
  col: number;
}

export type Severity = 'error' | 'warning';

/** One problem found in a datafile; `check`, `build` and `deploy` print these as `file:line:col: message`. */
export interface Diagnostic {
  file: string;
  line: number;
  col: number;
  message: string;
  hint?: string;
  severity: Severity;
}

export interface Column {
  name: string;
  /** The full ClickHouse type as written, e.g. `Nullable(Int32)`, `DateTime64(3, 'UTC')`. */
  type: string;
  /** True when the type is `Nullable(...)`. */
  nullable: boolean;
  /** Default expression without the `DEFAULT` keyword, e.g. `0`, `now()`, `[]`. */
  default?: string;
  /** Codec expression including the keyword, e.g. `CODEC(ZSTD(1))`. */
  codec?: string;
  /** JSONPath used by the Events API to map a JSON object to this column, e.g. `$.a.b`, `$.tags[:]`, `$`. */
  jsonpath?: string;
  /** Set on a column a connector adds by itself (Kafka `__offset`, DynamoDB `_timestamp`, ...): which connector. */
  implicit?: string;
  pos: SourcePos;
}

export interface IndexDef {
  name: string;
  expr: string;
  /** Index type with arguments, e.g. `bloom_filter(0.01)`. */
  type: string;
  granularity?: number;
  pos: SourcePos;
}

export interface EngineSpec {
  /** Engine family as written by the user, normalised to ClickHouse spelling, e.g. `MergeTree`, `ReplacingMergeTree`, `Null`. */
  type: string;
  sortingKey?: string;
  partitionKey?: string;
  primaryKey?: string;
  samplingKey?: string;
  ttl?: string;
  settings?: string;
  ver?: string;
  isDeleted?: string;
  sign?: string;
  version?: string;
  /** SummingMergeTree columns (ENGINE_COLUMNS or ENGINE_SUMMING_COLUMNS). */
  summingColumns?: string;
  /** Where each ENGINE* keyword was written, keyed by the keyword in upper case (e.g. `ENGINE_SORTING_KEY`). */
  positions: Record<string, SourcePos>;
}

export type TokenPermission = 'READ' | 'APPEND';

export interface TokenDecl {
  name: string;
  permission: TokenPermission;
  pos: SourcePos;
}

export interface DatasourceFile {
  kind: 'datasource';
  /** Resource name = file stem. */
  name: string;
  /** Path as given to the parser (relative to the project root when loaded from a project). */
  path: string;
  description?: string;
  columns: Column[];
  indexes: IndexDef[];
  engine: EngineSpec;
  tokens: TokenDecl[];
  /** SELECT list used to migrate rows of the live table into a new schema on deploy. */
  forwardQuery?: string;
  backfill?: 'skip';
  /**
   * SHARDING_KEY (emailstats' own setting): the Distributed table's sharding key when deployed to a cluster
   * (engine/placement.ts). Ignored on one ClickHouse.
   */
  shardingKey?: string;
  tags: string[];
  /** Operational tags (`k=v` items of TAGS) joined with `&`. */
  operationalTags?: string;
  sharedWith: string[];
  /** Connector settings that emailstats parses but does not run yet (KAFKA_*, IMPORT_*), keyed by keyword. */
  connector: Record<string, string>;
  /**
   * Set on a datasource no .datasource file defines: a Classic materialized node created it with ENGINE*
   * settings. Its columns are the node's output, read from the engine when the project is applied.
   */
  inferredFrom?: { pipe: string; node: string };
  warnings: Diagnostic[];
}

export type NodeType = 'standard' | 'endpoint' | 'materialized' | 'copy' | 'sink' | 'stream';

export interface PipeNode {
  name: string;
  description?: string;
  /** SQL text as stored by Tinybird: dedented and right-trimmed, or stripped when it starts with `%`. */
  sql: string;
  /** True when the SQL starts with `%`: it is a template, `template` holds the text after the `%`. */
  isTemplate: boolean;
  /** The template text (SQL after the leading `%`), or the plain SQL when not a template. */
  template: string;
  /** Position of the first line of the SQL block's body (the line after `SQL >`). */
  sqlPos: SourcePos;
  /** File line of each line of `sql` (and of `template`): blank and comment-only lines are not in the block. */
  sqlLines?: number[];
  type: NodeType;
  /** Materialized view target (`DATASOURCE`). */
  datasource?: string;
  /** Copy pipe target (`TARGET_DATASOURCE`). */
  targetDatasource?: string;
  copySchedule?: string;
  copyMode?: 'append' | 'replace';
  /** `FILTER` attribute, kept as written (emailstats does not use it). */
  filter?: string;
  deploymentMethod?: 'alter';
  /** Sink (EXPORT_*) settings, parsed but not run. */
  exportSettings: Record<string, string>;
  /** Classic CLI: ENGINE* settings of a materialized node, for the target datasource it creates. */
  engine?: EngineSpec;
  pos: SourcePos;
  /** Position of each node attribute keyword (TYPE, DATASOURCE, ...), keyed in upper case. */
  attrPositions: Record<string, SourcePos>;
}

export interface PipeFile {
  kind: 'pipe';
  name: string;
  path: string;
  description?: string;
  nodes: PipeNode[];
  tokens: TokenDecl[];
  /** `CACHE <seconds>` on endpoint pipes (TS-SDK extension). */
  cacheSeconds?: number;
  tags: string[];
  /** Operational tags (`k=v` items of TAGS) joined with `&`. */
  operationalTags?: string;
  warnings: Diagnostic[];
}

export interface ConnectionFile {
  kind: 'connection';
  name: string;
  path: string;
  description?: string;
  type?: string;
  settings: Record<string, string>;
  warnings: Diagnostic[];
}

export type Datafile = DatasourceFile | PipeFile | ConnectionFile;

/** The result of parsing one file: a model when there were no errors, and every diagnostic found. */
export interface ParseResult<T extends Datafile = Datafile> {
  file?: T;
  diagnostics: Diagnostic[];
}
