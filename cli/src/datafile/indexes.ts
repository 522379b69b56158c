// INDEXES block (spec 2.3): `[INDEX] name expr TYPE type[(args)] [GRANULARITY n]`, one per line.
import type { SourceLine } from './lexer.js';
import type { Reporter } from './errors.js';
import type { IndexDef, SourcePos } from './types.js';

const USAGE = 'Usage: `[INDEX] name expr TYPE type_full GRANULARITY granularity`';

/** Replace quoted strings by spaces, so keywords inside literals are not matched. */
function maskQuotes(s: string): string {
  return s.replace(/'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/g, (m) => ' '.repeat(m.length));
}

export function parseIndexes(block: SourceLine[], rep: Reporter): IndexDef[] {
  const out: IndexDef[] = [];
  const seen = new Map<string, SourcePos>();
  for (const { line, text } of block) {
    const lead = text.length - text.trimStart().length;
    let body = text.trim();
    if (body === '' || body.startsWith('--')) continue;
    const pos: SourcePos = { line, col: lead + 1 };
    body = body.replace(/^INDEX\s+/i, '').replace(/,\s*$/, '');
    const masked = maskQuotes(body);
    const types = [...masked.matchAll(/\bTYPE\b/gi)];
    const nameMatch = /^(\S+)\s+/.exec(body);
    if (types.length !== 1 || !nameMatch) {
      rep.error(pos, 'Invalid INDEX syntax', USAGE);
      continue;
    }
    const tAt = types[0]!.index!;
    const name = nameMatch[1]!;
    const expr = body.slice(nameMatch[0].length, tAt).trim();
    const rest = body.slice(tAt + 4);
    const g = /\bGRANULARITY\b/i.exec(maskQuotes(rest));
    const type = (g ? rest.slice(0, g.index) : rest).trim();
    if (expr === '' || type === '') {
      rep.error(pos, 'Invalid INDEX syntax', USAGE);
      continue;
    }
    const idx: IndexDef = { name, expr, type, pos };
    if (g) {
      const gv = rest.slice(g.index + g[0].length).trim();
      if (!/^[1-9][0-9]*$/.test(gv)) {
        rep.error(pos, `Invalid GRANULARITY '${gv}' for index '${name}'`, 'GRANULARITY is a positive integer');
        continue;
      }
      idx.granularity = Number(gv);
    }
    const prev = seen.get(name);
    if (prev) rep.error(pos, `Duplicate index name '${name}'`, `first defined at line ${prev.line}`);
    else seen.set(name, pos);
    out.push(idx);
  }
  return out;
}

/** `INDEX name expr TYPE type GRANULARITY n` as used in CREATE TABLE / ADD INDEX. */
export function indexSql(i: IndexDef): string {
  return `INDEX ${i.name} ${i.expr} TYPE ${i.type}${i.granularity !== undefined ? ` GRANULARITY ${i.granularity}` : ''}`;
}
