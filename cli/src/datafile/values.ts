// Single values (spec 1.3): join + unquote and `$VAR` substitution. (`tb_secret()` is rendered by the template
// engine: datafile/common.ts renderFileSecrets.)
import type { Token } from './lexer.js';

export type Env = Record<string, string | undefined>;

/** Remove one pair of surrounding quotes when the first and last characters are both `'` or both `"`. */
export function unquote(s: string): string {
  if (s.length >= 2 && (s[0] === '"' || s[0] === "'") && s[s.length - 1] === s[0]) return s.slice(1, -1);
  return s;
}

/** Args joined by one space, stripped, then unquoted. */
export function joinValue(args: readonly Token[]): string {
  return unquote(args.map((t) => t.text).join(' ').trim());
}

const VAR_RE = /\$(?:(\$)|([_a-z][_a-z0-9]*)|\{([_a-z][_a-z0-9]*)\})/gi;

/** Python `string.Template.safe_substitute`: unknown variables stay as written, `$$` becomes `$`. */
export function substituteEnv(s: string, env: Env): string {
  if (!s.includes('$')) return s;
  return s.replace(VAR_RE, (m, dollar: string | undefined, name: string | undefined, braced: string | undefined) => {
    if (dollar) return '$';
    const key = (name ?? braced)!;
    const v = env[key];
    return v === undefined ? m : v;
  });
}
