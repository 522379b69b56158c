// Single values (spec 1.3): join + unquote, `$VAR` substitution, and `tb_secret()` rendering.
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

export interface SecretProblem {
  line: number;
  col: number;
  name: string;
}

const SECRET_RE = /\{\{\s*tb_secret\(\s*(['"])(.*?)\1\s*(?:,\s*(['"])(.*?)\3\s*)?\)\s*\}\}/g;

/**
 * `.datasource`/`.connection` files are rendered first with only `tb_secret(name, default)`; the value is
 * substituted raw. A secret that is neither set nor defaulted is left in place and reported.
 */
export function renderSecrets(text: string, secrets: Env): { text: string; missing: SecretProblem[] } {
  const missing: SecretProblem[] = [];
  if (!text.includes('tb_secret')) return { text, missing };
  const out = text.replace(SECRET_RE, (m, _q: string, name: string, _q2: string | undefined, def: string | undefined, offset: number) => {
    const v = secrets[name];
    if (v !== undefined) return v;
    if (def !== undefined) return def;
    const before = text.slice(0, offset);
    const lineStart = Math.max(before.lastIndexOf('\n'), before.lastIndexOf('\r')) + 1;
    missing.push({ name, line: (before.match(/\r\n|\r|\n/g)?.length ?? 0) + 1, col: offset - lineStart + 1 });
    return m;
  });
  return { text: out, missing };
}
