// Which names a token may have: static tokens, API-created tokens and JWTs alike (their names reach logs).

const MAX_TOKEN_NAME_LENGTH = 128;
const TOKEN_NAME_RULE = `token names may contain letters (with accents) and digits of any script, spaces and _ - . : @, at most ${MAX_TOKEN_NAME_LENGTH} characters`;
const TOKEN_NAME = /^[\p{L}\p{M}\p{N}_\-.:@ ]+$/u; // \p{M}: accents and the vowel signs of many scripts

/**
 * Why `name` cannot name a token, or undefined when it can. Names end up in logs, terminals and the request
 * log, so only characters that print as themselves are allowed: no control characters (a newline forges log
 * lines, ESC drives terminals), no invisible or direction-changing format characters. The reason shows the
 * first bad character as a code point, never the name itself.
 */
export function tokenNameProblem(name: string): string | undefined {
  if (name.length === 0) return `a token needs a name: ${TOKEN_NAME_RULE}`;
  if (name.length > MAX_TOKEN_NAME_LENGTH) return `the token name is ${name.length} characters long: ${TOKEN_NAME_RULE}`;
  if (TOKEN_NAME.test(name)) return undefined;
  const chars = [...name];
  const at = chars.findIndex((c) => !TOKEN_NAME.test(c));
  const code = chars[at].codePointAt(0)!;
  const kind = /\p{Cc}/u.test(chars[at]) ? ' (a control character)' : /\p{Cf}/u.test(chars[at]) ? ' (an invisible format character)' : '';
  return `the token name has U+${code.toString(16).toUpperCase().padStart(4, '0')}${kind} at position ${at + 1}: ${TOKEN_NAME_RULE}`;
}
