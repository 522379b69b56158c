// `.datasource` files (spec 2): keywords → DatasourceFile, with schema, index and engine checks.
import { Reporter } from './errors.js';
import { parseSchema } from './schema.js';
import { parseIndexes } from './indexes.js';
import { normaliseEngine, SUPPORTED_ENGINES, validateEngine } from './engine-ddl.js';
import {
  checkResourceName,
  descriptionText,
  applyTags,
  renderFileSecrets,
  parseToken,
  posOf,
  pyList,
  singleValue,
  sqlText,
  stemOf,
  validStatements,
} from './common.js';
import { isValidSchedule } from './pipe.js';
import { addImplicitColumns, isWarehouseImport } from './connector-columns.js';
import {
  CLASSIC_DEPRECATIONS,
  DATASOURCE_KEYWORDS,
  DEPRECATED_ERRORS,
  DEPRECATED_WARNINGS,
  IMPORT_DS_KEYWORDS,
  KAFKA_DS_KEYWORDS,
} from './keywords.js';
import type { Env } from './values.js';
import type { Column, DatasourceFile, EngineSpec, IndexDef, ParseResult, SourcePos } from './types.js';

export const ENGINE_FIELDS: Record<string, keyof EngineSpec> = {
  ENGINE_SORTING_KEY: 'sortingKey',
  ENGINE_PARTITION_KEY: 'partitionKey',
  ENGINE_PRIMARY_KEY: 'primaryKey',
  ENGINE_SAMPLING_KEY: 'samplingKey',
  ENGINE_TTL: 'ttl',
  ENGINE_SETTINGS: 'settings',
  ENGINE_VER: 'ver',
  ENGINE_IS_DELETED: 'isDeleted',
  ENGINE_SIGN: 'sign',
  ENGINE_VERSION: 'version',
  ENGINE_COLUMNS: 'summingColumns',
  ENGINE_SUMMING_COLUMNS: 'summingColumns',
};

const BLOCK_REQUIRED = new Set(['SCHEMA', 'INDEXES', 'FORWARD_QUERY']);
const IMPORT_SCHEDULES = ['@auto', '@on-demand', '@once'];

export interface ParseOptions {
  env?: Env;
  /** Secrets for `tb_secret()`; falls back to `env`. */
  secrets?: Env;
}

export function parseDatasourceText(source: string, path: string, opts: ParseOptions = {}): ParseResult<DatasourceFile> {
  const env = opts.env ?? {};
  const rep = new Reporter(path);
  const renderedText = renderFileSecrets(source, opts.secrets ?? env, rep);

  const name = stemOf(path);
  checkResourceName(name, 'datasource', rep);
  const ds: DatasourceFile = {
    kind: 'datasource',
    name,
    path,
    columns: [],
    indexes: [],
    engine: { type: 'MergeTree', positions: {} },
    tokens: [],
    tags: [],
    sharedWith: [],
    connector: {},
    warnings: [],
  };
  let schemaPos: SourcePos | undefined;
  let schemaComplete = true;
  let columns: Column[] = [];
  let indexes: IndexDef[] = [];
  const seenKw = new Map<string, number>();
  const connectorPos: Record<string, SourcePos> = {};
  let kafkaWarned = false;
  let importWarned = false;

  const warnImport = (pos: SourcePos): void => {
    if (importWarned) return;
    importWarned = true;
    rep.warn(pos, 'S3/GCS import is not run by emailstats: IMPORT_* settings are parsed and ignored', 'load files with the Data Sources API instead');
  };
  const nodeHint = (cmd: string) => (cmd === 'NODE' || cmd === 'SQL' ? 'Datasource files cannot have nodes defined' : undefined);
  for (const st of validStatements(renderedText, DATASOURCE_KEYWORDS, 'datasource', rep, nodeHint)) {
    const pos = posOf(st);
    const cmd = st.cmd;
    if (cmd !== 'TOKEN' && cmd !== 'INCLUDE') {
      const prev = seenKw.get(cmd);
      if (prev !== undefined) rep.warn(pos, `${cmd} is set more than once; the last value wins`, `previous one at line ${prev}`);
      seenKw.set(cmd, st.line);
    }
    if (DEPRECATED_ERRORS[cmd]) {
      rep.error(pos, DEPRECATED_ERRORS[cmd]!);
      continue;
    }
    if (CLASSIC_DEPRECATIONS[cmd] || DEPRECATED_WARNINGS[cmd]) {
      const classic = CLASSIC_DEPRECATIONS[cmd];
      rep.warn(pos, classic ?? DEPRECATED_WARNINGS[cmd]!, classic ? 'accepted for Tinybird Classic projects and ignored; Tinybird Forward refuses it' : undefined);
      // Classic warehouse imports name their service (`IMPORT_SERVICE bigquery`): it decides the implicit columns.
      if (cmd === 'IMPORT_SERVICE' || cmd === 'IMPORT_STRATEGY') {
        const v = st.block ? undefined : singleValue(st, rep, env);
        if (v !== undefined) ds.connector[cmd] = v;
      }
      continue;
    }
    if (cmd === 'IMPORT_QUERY' && st.block) {
      // Classic warehouse imports (BigQuery, Snowflake) write the query as a block.
      ds.connector[cmd] = sqlText(st);
      connectorPos[cmd] = pos;
      warnImport(pos);
      continue;
    }
    if (BLOCK_REQUIRED.has(cmd) && !st.block) {
      rep.error(pos, `${cmd} must be multiline`, `Use > to start a multiline ${cmd} block`);
      continue;
    }
    switch (cmd) {
      case 'SETTINGS':
        rep.error(
          pos,
          'SETTINGS option is not allowed, use ENGINE_SETTINGS instead. See https://www.tinybird.co/docs/cli/datafiles#data-source for more information.',
        );
        break;
      case 'INCLUDE':
        rep.warn(pos, 'INCLUDE is not supported yet; the line is ignored', 'copy the included content into this file');
        break;
      case 'DESCRIPTION':
        ds.description = st.unbalanced ? st.args.map((a) => a.text).join(' ').trim() : descriptionText(st);
        break;
      case 'SCHEMA':
        schemaPos = pos;
        const before = rep.diagnostics.length;
        columns = parseSchema(st.block!, rep);
        schemaComplete = !rep.diagnostics.slice(before).some((d) => d.severity === 'error');
        if (st.block!.length === 0) rep.error(pos, 'SCHEMA must contain at least one column');
        break;
      case 'INDEXES':
        indexes = parseIndexes(st.block!, rep);
        break;
      case 'FORWARD_QUERY':
        ds.forwardQuery = sqlText(st);
        break;
      case 'TOKEN': {
        const t = parseToken(st, rep, 'datasource');
        if (t) ds.tokens.push(t);
        break;
      }
      case 'SHARED_WITH': {
        const text = st.block ? st.block.map((l) => l.text).join('\n') : st.args.map((a) => a.text).join(' ');
        ds.sharedWith = text
          .split(/[\n,]/)
          .map((w) => w.trim())
          .filter((w) => w !== '');
        if (ds.sharedWith.length === 0) rep.error(pos, 'SHARED_WITH requires at least one workspace name');
        else rep.warn(pos, 'SHARED_WITH is ignored: emailstats has a single workspace');
        break;
      }
      case 'BACKFILL': {
        const v = singleValue(st, rep, env);
        if (v === undefined) break;
        if (v.toLowerCase() === 'skip') ds.backfill = 'skip';
        else rep.error(pos, `${v} is not an allowed value for BACKFILL. Use one of: {'skip'}`);
        break;
      }
      case 'TAGS':
        applyTags(ds, st, rep, env);
        break;
      case 'SHARDING_KEY': {
        const v = singleValue(st, rep, env);
        if (v === undefined) break;
        if (v.trim() === '') rep.error(pos, 'SHARDING_KEY requires a value', 'an expression of the columns that gives an integer, e.g. cityHash64(recipient_id)');
        else ds.shardingKey = v.trim();
        break;
      }

      case 'ENGINE': {
        const v = singleValue(st, rep, env);
        if (v === undefined) break;
        ds.engine.positions.ENGINE = pos;
        const e = normaliseEngine(v);
        if (e) ds.engine.type = e;
        else rep.error(pos, `Engine ${v} is not supported, supported engines include: ${SUPPORTED_ENGINES.join(', ')}`);
        break;
      }
      default: {
        const v = singleValue(st, rep, env);
        if (v === undefined) break;
        const field = ENGINE_FIELDS[cmd];
        if (field) {
          ds.engine.positions[cmd] = pos;
          (ds.engine as unknown as Record<string, string>)[field] = v;
          if (v === '' && cmd !== 'ENGINE_TTL') rep.error(pos, `${cmd} requires a value`);
          break;
        }
        ds.connector[cmd] = v;
        connectorPos[cmd] = pos;
        if (KAFKA_DS_KEYWORDS.includes(cmd) && !kafkaWarned) {
          kafkaWarned = true;
          rep.warn(pos, 'Kafka ingestion is not run by emailstats: KAFKA_* settings are parsed and ignored', 'send rows through the Events API instead');
        }
        if (IMPORT_DS_KEYWORDS.includes(cmd)) warnImport(pos);
        if (cmd === 'KAFKA_AUTO_OFFSET_RESET' && !['earliest', 'latest', 'error'].includes(v.toLowerCase()))
          rep.error(pos, `Invalid KAFKA_AUTO_OFFSET_RESET '${v}'. Allowed values: earliest, latest, error`);
        // Classic warehouse imports (BigQuery, Snowflake) run on a cron schedule.
        if (cmd === 'IMPORT_SCHEDULE' && !IMPORT_SCHEDULES.includes(v) && !isValidSchedule(v))
          rep.error(
            pos,
            `Invalid import schedule '${v}'. Only ['@auto', '@on-demand', '@once'] values are allowed`,
            'Tinybird Classic warehouse imports also take a 5-field cron expression, e.g. "0 * * * *"',
          );
      }
    }
  }

  if (!schemaPos) rep.error({ line: 1, col: 1 }, 'SCHEMA is mandatory');
  ds.indexes = indexes;
  checkGroup(ds.connector, ['KAFKA_CONNECTION_NAME', 'KAFKA_TOPIC', 'KAFKA_GROUP_ID'], 'Kafka', connectorPos, rep);
  // BigQuery, Snowflake and DynamoDB imports (Classic) have no bucket: the S3/GCS group does not apply to them.
  if (!isWarehouseImport(ds.connector))
    checkGroup(ds.connector, ['IMPORT_CONNECTION_NAME', 'IMPORT_BUCKET_URI', 'IMPORT_SCHEDULE'], 'import', connectorPos, rep);
  if (schemaPos && schemaComplete) columns = addImplicitColumns(columns, ds.connector, connectorPos);
  ds.columns = columns;
  if (schemaPos) validateEngine(ds.engine, columns, rep, schemaPos, schemaComplete);
  const sk = ds.engine.sortingKey;
  if (['MergeTree', 'SummingMergeTree', 'AggregatingMergeTree'].includes(ds.engine.type) && (sk === undefined || sk.trim() === ''))
    rep.warn(
      ds.engine.positions.ENGINE ?? schemaPos ?? { line: 1, col: 1 },
      'ENGINE_SORTING_KEY is not set: rows are sorted by tuple()',
      'set ENGINE_SORTING_KEY to the columns queries filter on first',
    );

  ds.warnings = rep.warnings;
  return rep.hasErrors ? { diagnostics: rep.diagnostics } : { file: ds, diagnostics: rep.diagnostics };
}

function checkGroup(
  connector: Record<string, string>,
  required: string[],
  what: string,
  positions: Record<string, SourcePos>,
  rep: Reporter,
): void {
  const present = required.filter((k) => k in connector);
  if (present.length === 0 || present.length === required.length) return;
  const missing = required.filter((k) => !(k in connector)).map((k) => k.toLowerCase());
  rep.error(positions[present[0]!]!, `Some ${what} params have been provided, but the following required ones are missing: ${pyList(missing)}`);
}
