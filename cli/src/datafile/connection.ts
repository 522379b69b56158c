// `.connection` files (spec 2.6): parsed and kept, not run (emailstats has no connectors yet).
import { Reporter } from './errors.js';
import { checkResourceName, descriptionText, posOf, renderFileSecrets, singleValue, stemOf, validStatements } from './common.js';
import { CONNECTION_ALIASES, CONNECTION_KEYWORDS, CONNECTION_MULTILINE } from './keywords.js';
import { substituteEnv } from './values.js';
import type { ParseOptions } from './datasource.js';
import type { ConnectionFile, ParseResult } from './types.js';

export function parseConnectionText(source: string, path: string, opts: ParseOptions = {}): ParseResult<ConnectionFile> {
  const env = opts.env ?? {};
  const rep = new Reporter(path);
  const renderedText = renderFileSecrets(source, opts.secrets ?? env, rep);
  const name = stemOf(path);
  checkResourceName(name, 'connection', rep);
  const conn: ConnectionFile = { kind: 'connection', name, path, settings: {}, warnings: [] };

  for (const st of validStatements(renderedText, CONNECTION_KEYWORDS, 'connection', rep)) {
    const pos = posOf(st);
    if (st.cmd === 'INCLUDE') {
      rep.warn(pos, 'INCLUDE is not supported yet; the line is ignored');
      continue;
    }
    const v = CONNECTION_MULTILINE.has(st.cmd) && st.block ? substituteEnv(descriptionText(st), env) : singleValue(st, rep, env);
    if (v === undefined) continue;
    if (st.cmd === 'DESCRIPTION') conn.description = v;
    else if (st.cmd === 'TYPE') conn.type = v.toLowerCase();
    else conn.settings[CONNECTION_ALIASES[st.cmd] ?? st.cmd] = v;
  }
  rep.warn({ line: 1, col: 1 }, `Connections are parsed but not used by emailstats yet${conn.type ? ` (${conn.type})` : ''}`);
  conn.warnings = rep.warnings;
  return rep.hasErrors ? { diagnostics: rep.diagnostics } : { file: conn, diagnostics: rep.diagnostics };
}
