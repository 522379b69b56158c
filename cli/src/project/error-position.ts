// Places an engine error about a node at the line of the name it complains about (`Unknown expression
// identifier `x``, 18.16's `Missing columns: 'x'`, `Unknown function f`, `Table db.t doesn't exist`), instead
// of the node's first line. The name is looked up among the node's own SQL tokens, outside template tags.
import type { PipeNode, SourcePos } from '../datafile/types.js';
import { tokenizeSql } from '../sql/lexer.js';
import { identName } from './references.js';
import { blankTemplateTags, nodeLocator } from './name-check.js';

/** The names an engine error message blames, most specific first. */
export function blamedNames(message: string): string[] {
  const names: string[] = [];
  const patterns = [
    /identifier [`'"]([^`'"]+)[`'"]/gi, // chDB / ClickHouse 2x: Unknown (expression|table expression) identifier `x`
    /Missing columns: ((?:'[^']+'\s*)+)/g, // ClickHouse 18.16..2x: Missing columns: 'a' 'b' while processing query
    /Unknown function ([A-Za-z_][A-Za-z0-9_]*)/g,
    /Table [A-Za-z0-9_]+\.([A-Za-z0-9_]+) (?:doesn't|does not) exist/g,
    /There's no column '([^']+)'/g,
  ];
  for (const re of patterns) {
    for (const m of message.matchAll(re)) {
      for (const quoted of m[1].match(/'[^']+'/g) ?? [m[1]]) names.push(quoted.replace(/^'|'$/g, ''));
    }
  }
  return [...new Set(names)];
}

/** Where in the datafile the node's SQL first uses a name the error blames; undefined when it does not. */
export function engineErrorPosition(node: PipeNode, source: string | undefined, message: string): SourcePos | undefined {
  const names = blamedNames(message);
  if (!names.length) return undefined;
  const tokens = tokenizeSql(blankTemplateTags(node.template));
  for (const name of names) {
    // `t.x` is blamed as `t.x` by some versions and `x` by others: match the last part too.
    const last = name.split('.').pop()!;
    const tok = tokens.find((t) => identName(t) === name) ?? tokens.find((t) => identName(t) === last);
    if (tok) return nodeLocator(node, source)(tok.start);
  }
  return undefined;
}
