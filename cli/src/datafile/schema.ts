// SCHEMA block column grammar (spec 2.2), reported at file positions.
import { JsonPathError, parseJsonPath } from './jsonpath.js';
import type { SourceLine } from './lexer.js';
import type { Reporter } from './errors.js';
import type { Column, SourcePos } from './types.js';

const NAME_CH = /[A-Za-z0-9._`*<>+\-']/;
const EXPR_CH = /[A-Za-z0-9._`*<>+\-'[\](),=!?:/ \n\t\r"]/;
const IDENT_CH = /[A-Za-z0-9_]/;

type Tok = 'NULL' | 'NOTNULL' | 'DEFAULT' | 'MATERIALIZED' | 'ALIAS' | 'CODEC' | 'TTL' | 'JSONPATH';
const KEYWORDS: [Tok, RegExp][] = [
  ['NOTNULL', /^NOT\s+NULL/i],
  ['NULL', /^NULL/i],
  ['DEFAULT', /^DEFAULT/i],
  ['MATERIALIZED', /^MATERIALIZED/i],
  ['ALIAS', /^ALIAS/i],
  ['CODEC', /^CODEC/i],
  ['TTL', /^TTL/i],
];

/**
 * Strip `--` comments and right-trim, keeping columns intact. Not inside quotes or backtick spans: Tinybird
 * spares `json:` spans; we also spare backticked names (`a--b` is a valid name).
 */
function stripComments(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote !== '`') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '-' && line[i + 1] === '-') return line.slice(0, i).trimEnd();
  }
  return line.trimEnd();
}

class SyntaxErr {
  constructor(
    readonly at: number,
    readonly message: string,
    readonly hint?: string,
  ) {}
}

/** Known ClickHouse type families (lower case), for a friendly warning on typos. */
const TYPE_FAMILIES = new Set(
  (
    'int8 int16 int32 int64 int128 int256 uint8 uint16 uint32 uint64 uint128 uint256 float32 float64 bfloat16 ' +
    'decimal decimal32 decimal64 decimal128 decimal256 bool string fixedstring uuid date date32 datetime datetime64 ' +
    'time time64 enum enum8 enum16 lowcardinality array nullable map tuple nested json object dynamic variant ' +
    'aggregatefunction simpleaggregatefunction ipv4 ipv6 point ring polygon multipolygon linestring multilinestring ' +
    'nothing interval intervalsecond intervalminute intervalhour intervalday intervalweek intervalmonth intervalyear ' +
    'tinyint smallint mediumint bigint integer int uint tinyint signed byte float double real text varchar char blob ' +
    'longtext mediumtext tinytext longblob mediumblob tinyblob binary varbinary timestamp numeric dec boolean ' +
    'int1 int2 int4 int8 float4 float8 bit set year national character geometry qbit'
  ).split(' '),
);

export function typeFamily(type: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*/.exec(type.trim())?.[0] ?? '';
}

/** Parse a SCHEMA block. Every problem is reported; the columns that parsed are returned. */
export function parseSchema(block: SourceLine[], rep: Reporter): Column[] {
  const lines = block.map((l) => stripComments(l.text));
  const s = lines.join('\n');
  const n = s.length;
  const starts: number[] = [];
  let acc = 0;
  for (const l of lines) {
    starts.push(acc);
    acc += l.length + 1;
  }
  const posOf = (off: number): SourcePos => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= off) lo = mid;
      else hi = mid - 1;
    }
    return { line: block[lo]?.line ?? 1, col: off - (starts[lo] ?? 0) + 1 };
  };
  // EOF errors point just after the last character.
  const eof = (): number => n;

  const isWs = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';
  const kwAt = (i: number): { tok: Tok; len: number } | null => {
    if (s.startsWith('`json:', i)) return { tok: 'JSONPATH', len: 6 };
    if (i > 0 && !isWs(s[i - 1])) return null;
    const rest = s.slice(i, i + 20);
    for (const [tok, re] of KEYWORDS) {
      const m = re.exec(rest);
      if (m && !IDENT_CH.test(s[i + m[0].length] ?? '')) return { tok, len: m[0].length };
    }
    return null;
  };

  /** A free expression (type or default) up to a top-level keyword, comma or newline. */
  const parseExpr = (i: number, isDefault = false): { text: string; end: number } => {
    const start = i;
    let depth = 0;
    let quote: string | null = null;
    while (i < n) {
      const c = s[i]!;
      if (quote) {
        if (c === '\\') i++;
        else if (c === quote) quote = null;
        i++;
        continue;
      }
      if (c === "'" || c === '"') {
        quote = c;
        i++;
        continue;
      }
      if (depth === 0) {
        if (c === ',' || c === '\n') break;
        const kw = kwAt(i);
        // `DEFAULT NULL` is a value, not the NULL modifier.
        if (kw && !(isDefault && (kw.tok === 'NULL' || kw.tok === 'NOTNULL'))) break;
      }
      if (!EXPR_CH.test(c)) throw new SyntaxErr(i, `Invalid character '${c}'`);
      if (c === '(' || c === '[') depth++;
      else if (c === ')' || c === ']') {
        depth--;
        if (depth < 0) throw new SyntaxErr(i, `Invalid character '${c}'`);
      }
      i++;
    }
    if (quote) throw new SyntaxErr(eof(), `Expected closing ${quote}`);
    if (depth > 0) throw new SyntaxErr(eof(), 'Expected closing )');
    return { text: s.slice(start, i).trim(), end: i };
  };

  /** After an error: resume after the next top-level comma. */
  const skipToComma = (i: number): number => {
    let depth = 0;
    let quote: string | null = null;
    for (; i < n; i++) {
      const c = s[i]!;
      if (quote) {
        if (c === quote) quote = null;
        continue;
      }
      if (c === "'" || c === '"') quote = c;
      else if (c === '(' || c === '[') depth++;
      else if ((c === ')' || c === ']') && depth > 0) depth--;
      else if (c === ',' && depth === 0) return i + 1;
    }
    return n;
  };
  const skipHws = (i: number) => {
    while (s[i] === ' ' || s[i] === '\t' || s[i] === '\r') i++;
    return i;
  };
  const skipWs = (i: number) => {
    while (isWs(s[i])) i++;
    return i;
  };

  const columns: Column[] = [];
  const seen = new Map<string, SourcePos>();
  let i = skipWs(0);
  while (i < n) {
    const colStart = i;
    try {
      let name: string;
      let backticked = false;
      if (s[i] === '`') {
        let j = i + 1;
        while (j < n && s[j] !== '`' && !isWs(s[j])) j++;
        if (s[j] !== '`') throw new SyntaxErr(j, 'Expected closing backtick');
        name = s.slice(i + 1, j);
        backticked = true;
        i = j + 1;
        if (name === '') throw new SyntaxErr(colStart, 'Column name cannot be empty');
      } else {
        let j = i;
        while (j < n && NAME_CH.test(s[j]!)) j++;
        if (j < n && !isWs(s[j]) && s[j] !== ',')
          throw new SyntaxErr(j, `Column name contains invalid character '${s[j]}'`, 'use backticks');
        name = s.slice(i, j);
        i = j;
      }
      if (!backticked && name.toUpperCase() === 'INDEX' && s[i] !== ',' && s.slice(i).trim() !== '')
        throw new SyntaxErr(colStart, 'Forbidden INDEX definition', 'Indexes are not allowed in SCHEMA section. Use the INDEXES section instead');
      i = skipHws(i);
      if (i >= n || s[i] === ',' || s[i] === '\n')
        throw new SyntaxErr(colStart, 'Column name and either type or DEFAULT are required');

      const col: Column = { name, type: '', nullable: false, pos: posOf(colStart) };
      const typeAt = i;
      if (!kwAt(i)) {
        const e = parseExpr(i);
        col.type = e.text.replace(/\s*\n\s*/g, ' ');
        i = e.end;
      }
      let last = 'TYPE';
      const done = new Set<string>();
      let nextColumnAt = -1;
      for (;;) {
        i = skipHws(i);
        let crossedNewline = false;
        if (s[i] === '\n') {
          crossedNewline = true;
          i = skipWs(i);
        }
        if (i >= n) break;
        if (s[i] === ',') {
          i++;
          break;
        }
        const kw = kwAt(i);
        if (!kw) {
          if (crossedNewline) {
            // A newline does not separate columns: report it and parse the next line as a new column.
            rep.error(posOf(i), 'Unexpected TYPE after NEW_LINE', 'columns must be separated by commas');
            nextColumnAt = i;
            break;
          }
          throw new SyntaxErr(i, `Unexpected TYPE after ${last}`);
        }
        switch (kw.tok) {
          case 'NULL':
            throw new SyntaxErr(i, 'NULL column syntax not supported', 'use Nullable(...)');
          case 'NOTNULL':
            throw new SyntaxErr(i, 'NOT NULL column syntax not supported', 'Columns are not nullable by default');
          case 'MATERIALIZED':
            throw new SyntaxErr(i, 'MATERIALIZED columns are not supported');
          case 'ALIAS':
            throw new SyntaxErr(i, 'ALIAS columns are not supported');
          case 'TTL':
            throw new SyntaxErr(i, 'column TTL is not supported');
          case 'DEFAULT': {
            if (done.has('DEFAULT') || done.has('CODEC')) throw new SyntaxErr(i, `Unexpected DEFAULT after ${last}`);
            i = skipHws(i + kw.len);
            const e = parseExpr(i, true);
            if (e.text === '') throw new SyntaxErr(i, 'Missing mandatory value for DEFAULT');
            col.default = e.text.replace(/\s*\n\s*/g, ' ');
            i = e.end;
            break;
          }
          case 'CODEC': {
            if (done.has('CODEC')) throw new SyntaxErr(i, `Unexpected CODEC after ${last}`);
            i = skipHws(i + kw.len);
            if (s[i] !== '(') throw new SyntaxErr(i, 'Missing mandatory value for CODEC');
            let depth = 0;
            let quote: string | null = null;
            let j = i;
            for (; j < n; j++) {
              const c = s[j]!;
              if (quote) {
                if (c === quote) quote = null;
              } else if (c === "'" || c === '"') quote = c;
              else if (c === '(') depth++;
              else if (c === ')' && --depth === 0) break;
            }
            if (j >= n) throw new SyntaxErr(eof(), 'Expected closing )');
            const inner = s.slice(i + 1, j).trim();
            if (inner === '') throw new SyntaxErr(i, 'Missing mandatory value for CODEC');
            col.codec = `CODEC(${inner.replace(/\s*\n\s*/g, ' ')})`;
            i = j + 1;
            break;
          }
          case 'JSONPATH': {
            if (done.has('JSONPATH')) throw new SyntaxErr(i, `Unexpected JSONPATH after ${last}`);
            const from = i + kw.len;
            let j = from;
            while (j < n && s[j] !== '`' && s[j] !== '\n') j++;
            if (s[j] !== '`') throw new SyntaxErr(j, 'Expected closing backtick');
            const path = s.slice(from, j).trim();
            if (!path.startsWith('$'))
              throw new SyntaxErr(from, `Invalid jsonpath '${path}'`, 'a jsonpath starts with $, e.g. `json:$.field`');
            col.jsonpath = path;
            try {
              parseJsonPath(path);
            } catch (e) {
              // Tinybird may know selectors we do not: a warning at check/build, instead of a 400 on the first event.
              if (!(e instanceof JsonPathError)) throw e;
              rep.warn(posOf(from), `jsonpath '${path}' cannot be mapped here: ${e.message}; /v0/events will refuse events for this datasource`, 'use $.a.b, $.a[0], $.a[:] or $ (see docs/ingest-notes.md)');
            }
            i = j + 1;
            break;
          }
        }
        done.add(kw.tok);
        last = kw.tok;
      }

      if (col.type === '' && col.default === undefined) {
        rep.error(col.pos, 'Column name and either type or DEFAULT are required');
      } else {
        checkType(col, posOf(typeAt), rep);
        if (col.nullable && col.default !== undefined && col.default.toUpperCase() === 'NULL') delete col.default;
        const prev = seen.get(name);
        if (prev) rep.error(col.pos, `Duplicate column name '${name}'`, `first defined at line ${prev.line}`);
        else seen.set(name, col.pos);
        columns.push(col);
      }
      i = nextColumnAt >= 0 ? nextColumnAt : skipWs(i);
    } catch (e) {
      if (!(e instanceof SyntaxErr)) throw e;
      rep.error(posOf(Math.min(e.at, n)), e.message, e.hint);
      const next = skipToComma(Math.max(e.at, colStart));
      i = skipWs(next > colStart ? next : colStart + 1);
    }
  }
  return columns;
}

function checkType(col: Column, at: SourcePos, rep: Reporter): void {
  const t = col.type;
  if (t === '') return;
  col.nullable = /^Nullable\s*\(/i.test(t);
  if (/Boolean/.test(t)) rep.error(at, 'Boolean type is not supported', 'use Bool or UInt8 instead');
  if (/\bDateTime64\b(?!\s*\()/.test(t))
    rep.error(at, 'DateTime64 type without precision is not supported', 'use DateTime64(3) instead');
  if (t === 'Int' || t === 'UInt')
    rep.error(at, 'Precision is mandatory for Int types', 'use one of Int8, Int16, Int32, Int64, Int128, Int256');
  for (const fam of nestedFamilies(t)) {
    if (fam && !TYPE_FAMILIES.has(fam.toLowerCase())) {
      rep.warn(at, `Unknown data type family: ${fam}`, 'ClickHouse will reject this type when the table is created');
      break;
    }
  }
}

/** Type families of a type and of the arguments of wrappers whose arguments are types. */
function nestedFamilies(t: string): string[] {
  const fam = typeFamily(t);
  const out = [fam];
  const m = /^(Nullable|LowCardinality|Array|Map)\s*\(([\s\S]*)\)\s*$/i.exec(t.trim());
  if (m) for (const arg of splitTopLevel(m[2]!)) out.push(...nestedFamilies(arg));
  return out;
}

/** Split on commas outside parentheses, brackets and quotes. */
export function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(' || c === '[') depth++;
    else if (c === ')' || c === ']') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(s.slice(start).trim());
  return parts.filter((p) => p !== '');
}

/** A column rendered back as a SCHEMA line (without the trailing comma). */
export function renderColumn(c: Column): string {
  let out = `\`${c.name}\``;
  if (c.type) out += ` ${c.type}`;
  if (c.jsonpath) out += ` \`json:${c.jsonpath}\``;
  if (c.default !== undefined) out += ` DEFAULT ${c.default}`;
  if (c.codec) out += ` ${c.codec}`;
  return out;
}
