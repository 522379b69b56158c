// `.pipe` files (spec 3): nodes, SQL blocks, node types and per-type attributes.
import { Reporter } from './errors.js';
import type { Statement } from './lexer.js';
import {
  checkResourceName,
  descriptionText,
  NAME_RE,
  applyTags,
  parseToken,
  posOf,
  pyList,
  singleValue,
  sqlText,
  stemOf,
  validStatements,
} from './common.js';
import { DEPRECATED_WARNINGS, ENGINE_KEYWORDS, EXPORT_KEYWORDS, NODE_ATTRIBUTES, PIPE_KEYWORDS } from './keywords.js';
import { ENGINE_FIELDS, type ParseOptions } from './datasource.js';
import { normaliseEngine, SUPPORTED_ENGINES } from './engine-ddl.js';
import type { NodeType, ParseResult, PipeFile, PipeNode, SourcePos } from './types.js';

const NODE_TYPES: Record<string, NodeType> = {
  '': 'standard',
  standard: 'standard',
  default: 'standard',
  endpoint: 'endpoint',
  materialized: 'materialized',
  copy: 'copy',
  sink: 'sink',
  stream: 'stream',
};

/** Attributes each node type accepts besides NAME, SQL, DESCRIPTION and TYPE. */
const ALLOWED_ATTRS: Record<NodeType, string[]> = {
  standard: ['FILTER'],
  endpoint: ['FILTER'],
  materialized: ['DATASOURCE', 'DEPLOYMENT_METHOD', 'FILTER', ...ENGINE_KEYWORDS],
  copy: ['TARGET_DATASOURCE', 'COPY_SCHEDULE', 'COPY_MODE', 'MODE', 'FILTER'],
  sink: [...EXPORT_KEYWORDS, 'FILTER'],
  stream: [...EXPORT_KEYWORDS, 'FILTER'],
};

const TYPE_LABEL: Record<NodeType, string> = {
  standard: 'Standard',
  endpoint: 'Endpoint',
  materialized: 'Materialized',
  copy: 'Copy',
  sink: 'Sink',
  stream: 'Stream',
};

const CRON_FIELD = /^[0-9A-Za-z*,/\-?]+$/;
/** `@on-demand` or a 5-field cron expression. */
export function isValidSchedule(v: string): boolean {
  if (v === '@on-demand') return true;
  const f = v.trim().split(/\s+/);
  return f.length === 5 && f.every((x) => CRON_FIELD.test(x));
}

interface NodeState {
  node: PipeNode;
  hasSql: boolean;
}

export function parsePipeText(source: string, path: string, opts: ParseOptions = {}): ParseResult<PipeFile> {
  const env = opts.env ?? {};
  const rep = new Reporter(path);
  const name = stemOf(path);
  checkResourceName(name, 'pipe', rep);
  const pipe: PipeFile = { kind: 'pipe', name, path, nodes: [], tokens: [], tags: [], warnings: [] };
  const states: NodeState[] = [];
  let current: NodeState | undefined;
  let cachePos: SourcePos | undefined;

  for (const st of validStatements(source, PIPE_KEYWORDS, 'pipe', rep)) {
    const pos = posOf(st);
    const cmd = st.cmd;
    if (DEPRECATED_WARNINGS[cmd]) {
      rep.warn(pos, DEPRECATED_WARNINGS[cmd]!);
      continue;
    }
    if (cmd === 'NODE' || cmd === 'SCOPE') {
      const nodeName = singleValue(st, rep, env);
      if (nodeName === undefined) continue;
      if (nodeName === '') {
        rep.error(pos, `${cmd} requires a name`);
        current = undefined;
        continue;
      }
      if (!NAME_RE.test(nodeName))
        rep.error(pos, `Invalid node name '${nodeName}'`, 'use letters, digits and underscores, starting with a letter or underscore');
      current = {
        node: {
          name: nodeName,
          sql: '',
          isTemplate: false,
          template: '',
          sqlPos: { line: st.line + 1, col: 1 },
          type: 'standard',
          exportSettings: {},
          pos,
          attrPositions: {},
        },
        hasSql: false,
      };
      states.push(current);
      continue;
    }
    if (NODE_ATTRIBUTES.includes(cmd)) {
      if (!current) {
        rep.error(pos, `${cmd} must be called after a NODE command`);
        continue;
      }
      const v = singleValue(st, rep, env);
      if (v !== undefined) nodeAttribute(current.node, cmd, v, pos, rep);
      continue;
    }
    switch (cmd) {
      case 'SQL':
        if (!current) rep.error(pos, 'SQL must be called after a NODE command');
        else if (!st.block) {
          rep.error(pos, 'SQL must be multiline', 'Use > to start a multiline SQL block');
          current.hasSql = true; // already reported: do not add "has no SQL"
        }
        else setSql(current, st, rep);
        break;
      case 'DESCRIPTION': {
        const d = st.unbalanced ? st.args.map((a) => a.text).join(' ').trim() : descriptionText(st);
        if (current) current.node.description = d;
        else pipe.description = d;
        break;
      }
      case 'TOKEN': {
        const t = parseToken(st, rep, 'pipe');
        if (t) pipe.tokens.push(t);
        break;
      }
      case 'TAGS':
        applyTags(pipe, st, rep, env);
        break;
      case 'CACHE': {
        const v = singleValue(st, rep, env);
        if (v === undefined) break;
        const n = Number(v);
        if (v === '' || !Number.isFinite(n) || n < 0) rep.error(pos, `CACHE must be a non-negative number of seconds, got '${v}'`);
        else {
          pipe.cacheSeconds = n;
          cachePos = pos;
        }
        break;
      }
      case 'INCLUDE':
        rep.warn(pos, 'INCLUDE is not supported yet; the line is ignored', 'copy the included content into this file');
        break;
    }
  }

  pipe.nodes = states.map((s) => s.node);
  validateNodes(pipe, states, rep);
  if (cachePos && !pipe.nodes.some((n) => n.type === 'endpoint')) rep.error(cachePos, 'CACHE is only supported for TYPE endpoint');

  pipe.warnings = rep.warnings;
  return rep.hasErrors ? { diagnostics: rep.diagnostics } : { file: pipe, diagnostics: rep.diagnostics };
}

function setSql(state: NodeState, st: Statement, rep: Reporter): void {
  const node = state.node;
  if (state.hasSql) rep.error(posOf(st), `Node '${node.name}' has more than one SQL block`);
  state.hasSql = true;
  const block = st.block!;
  node.sql = sqlText(st);
  node.isTemplate = node.sql.startsWith('%');
  node.template = node.isTemplate ? node.sql.slice(1) : node.sql;
  node.sqlPos = { line: block[0]?.line ?? st.line + 1, col: 1 };
  node.sqlLines = block.slice(0, node.sql.split('\n').length).map((l) => l.line);
  if (node.sql.trim() === '' || node.template.trim() === '')
    rep.error(posOf(st), `The SQL of node '${node.name}' is empty`, 'write the query on the indented lines after SQL >');
}

function nodeAttribute(node: PipeNode, cmd: string, v: string, pos: SourcePos, rep: Reporter): void {
  node.attrPositions[cmd] = pos;
  switch (cmd) {
    case 'TYPE': {
      const t = NODE_TYPES[v.toLowerCase()];
      if (t === undefined) {
        rep.error(pos, `Invalid node ''${node.name}'' of type (${v}). Allowed node types: {'materialized','copy','endpoint','sink'}`);
        return;
      }
      node.type = t;
      if (t === 'sink' || t === 'stream')
        rep.warn(pos, `${t === 'sink' ? 'Sink' : 'Stream'} nodes are not run by emailstats: node '${node.name}' is parsed and ignored`);
      return;
    }
    case 'DATASOURCE':
      node.datasource = v;
      return;
    case 'TARGET_DATASOURCE':
      node.targetDatasource = v;
      return;
    case 'COPY_SCHEDULE':
      node.copySchedule = v;
      if (!isValidSchedule(v)) rep.error(pos, 'COPY node schedule must be @on-demand or a valid cron expression.');
      return;
    case 'COPY_MODE':
    case 'MODE': {
      const m = v.toLowerCase();
      if (m === 'append' || m === 'replace') node.copyMode = m;
      else rep.error(pos, 'COPY node mode must be append or replace');
      return;
    }
    case 'DEPLOYMENT_METHOD':
      if (v.toLowerCase() === 'alter') node.deploymentMethod = 'alter';
      else rep.error(pos, `Invalid DEPLOYMENT_METHOD '${v}'. Only 'alter' is allowed`);
      return;
    case 'FILTER':
      node.filter = v;
      return;
    default:
      if (ENGINE_KEYWORDS.includes(cmd)) return engineAttribute(node, cmd, v, pos, rep);
      node.exportSettings[cmd] = v;
  }
}

/** Classic CLI: `ENGINE "SummingMergeTree"`, `ENGINE_SORTING_KEY "id"`, ... on a materialized node. */
function engineAttribute(node: PipeNode, cmd: string, v: string, pos: SourcePos, rep: Reporter): void {
  const engine = (node.engine ??= { type: 'MergeTree', positions: {} });
  engine.positions[cmd] = pos;
  if (cmd === 'ENGINE') {
    const e = normaliseEngine(v);
    if (e) engine.type = e;
    else rep.error(pos, `Engine ${v} is not supported, supported engines include: ${SUPPORTED_ENGINES.join(', ')}`);
    return;
  }
  (engine as unknown as Record<string, string>)[ENGINE_FIELDS[cmd]!] = v;
  if (v === '' && cmd !== 'ENGINE_TTL') rep.error(pos, `${cmd} requires a value`);
}

function validateNodes(pipe: PipeFile, states: NodeState[], rep: Reporter): void {
  if (states.length === 0) {
    rep.error({ line: 1, col: 1 }, 'Pipe data file must have at least one node');
    return;
  }
  const names = new Map<string, SourcePos>();
  let typed: PipeNode | undefined;
  for (const { node, hasSql } of states) {
    const prev = names.get(node.name);
    if (prev) rep.error(node.pos, `Duplicate node name '${node.name}'`, `first defined at line ${prev.line}`);
    else names.set(node.name, node.pos);
    // Tinybird Forward refuses it; Classic projects have it. Inside the pipe the name means the node.
    if (node.name === pipe.name)
      rep.warn(node.pos, "Nodes can't have the same exact name as the Pipe they belong to", `accepted as Tinybird Classic did: inside ${pipe.name}.pipe, '${node.name}' means this node; Tinybird Forward refuses it, so rename the node to deploy there`);
    if (!hasSql) rep.error(node.pos, `Node '${node.name}' has no SQL`, 'add `SQL >` followed by the indented query');

    const typePos = node.attrPositions.TYPE ?? node.pos;
    if (node.type !== 'standard') {
      if (typed) rep.error(typePos, 'Multiple non-standard nodes in pipe. There can only be one');
      else typed = node;
    }
    const allowed = ALLOWED_ATTRS[node.type];
    for (const [attr, p] of Object.entries(node.attrPositions)) {
      if (attr === 'TYPE' || allowed.includes(attr)) continue;
      rep.error(p, `${TYPE_LABEL[node.type]} node '${node.name}' has an invalid attribute (${attr})`);
    }
    const enginePos = node.engine && (node.engine.positions.ENGINE ?? Object.values(node.engine.positions)[0]);
    if (enginePos && node.type === 'materialized' && node.datasource)
      rep.warn(
        enginePos,
        `ENGINE settings in materialized node '${node.name}' are Tinybird Classic syntax: emailstats creates datasource '${node.datasource}' from them (schema from the node's output) when no .datasource defines it`,
        `Tinybird Forward needs datasources/${node.datasource}.datasource with this SCHEMA and ENGINE instead`,
      );
    if (node.type === 'materialized' && !node.datasource)
      rep.error(typePos, `Some materialized node params have been provided, but the following required ones are missing: ${pyList(['datasource'])}`);
    if (node.type === 'copy' && !node.targetDatasource)
      rep.error(typePos, `Some copy node params have been provided, but the following required ones are missing: ${pyList(['target_datasource'])}`);
    if (node.type === 'sink') validateSink(node, typePos, rep);
  }
}

function validateSink(node: PipeNode, typePos: SourcePos, rep: Reporter): void {
  const s = node.exportSettings;
  const kafka = 'EXPORT_KAFKA_TOPIC' in s;
  const required = kafka
    ? ['EXPORT_CONNECTION_NAME', 'EXPORT_KAFKA_TOPIC', 'EXPORT_SCHEDULE']
    : ['EXPORT_CONNECTION_NAME', 'EXPORT_SCHEDULE', 'EXPORT_BUCKET_URI', 'EXPORT_FILE_TEMPLATE'];
  const missing = required.filter((k) => !(k in s)).map((k) => k.toLowerCase());
  if (missing.length) rep.error(typePos, `Some sink node params have been provided, but the following required ones are missing: ${pyList(missing)}`);
  if (kafka) {
    for (const k of Object.keys(s))
      if (!required.includes(k))
        rep.error(node.attrPositions[k] ?? typePos, `Sink node '${node.name}' mixes Kafka and S3/GCS export parameters (${k})`);
  }
  const sched = s.EXPORT_SCHEDULE;
  if (sched !== undefined && !isValidSchedule(sched))
    rep.error(node.attrPositions.EXPORT_SCHEDULE ?? typePos, 'EXPORT_SCHEDULE must be @on-demand or a valid cron expression.');
  const comp = s.EXPORT_COMPRESSION;
  if (comp !== undefined && !['none', 'gzip', 'snappy'].includes(comp.toLowerCase()))
    rep.error(node.attrPositions.EXPORT_COMPRESSION ?? typePos, `Invalid EXPORT_COMPRESSION '${comp}'. Use one of: none, gzip, snappy`);
}
