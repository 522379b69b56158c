// Quoting for SQL that emailstats writes itself (names from datafiles, values it generates). Request values
// never go through here: templates quote them (cli/src/template/escape.ts).

/** A backtick-quoted identifier, any name. */
export function quoteIdent(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** A single-quoted string literal. */
export function quoteString(value: string): string {
  return "'" + value.replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}
