import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tokenizeSql } from '../../cli/src/sql/lexer.js';

const toks = (s: string) => tokenizeSql(s).filter((t) => t.kind !== 'ws').map((t) => [t.kind, t.text]);

describe('tokenizeSql', () => {
  it('basic select with node references', () => {
    expect(toks('SELECT a, count() AS c FROM my_node JOIN `other node` ON x.id = y.id')).toEqual([
      ['ident', 'SELECT'], ['ident', 'a'], ['op', ','], ['ident', 'count'], ['op', '('], ['op', ')'], ['ident', 'AS'], ['ident', 'c'],
      ['ident', 'FROM'], ['ident', 'my_node'], ['ident', 'JOIN'], ['quoted_ident', '`other node`'], ['ident', 'ON'], ['ident', 'x'],
      ['op', '.'], ['ident', 'id'], ['op', '='], ['ident', 'y'], ['op', '.'], ['ident', 'id'],
    ]);
  });
  it('strings with escapes and doubled quotes', () => {
    expect(toks("'a\\'b' 'c''d' 'e\\\\' 'f'")).toEqual([['string', "'a\\'b'"], ['string', "'c''d'"], ['string', "'e\\\\'"], ['string', "'f'"]]);
    expect(toks("'unterminated")).toEqual([['error', "'unterminated"]]);
    expect(toks("'x\\'")).toEqual([['error', "'x\\'"]]);
  });
  it('quoted identifiers', () => {
    expect(toks('`a\\`b` "c""d" "e\\"f"')).toEqual([['quoted_ident', '`a\\`b`'], ['quoted_ident', '"c""d"'], ['quoted_ident', '"e\\"f"']]);
  });
  it('comments', () => {
    expect(toks('a -- c1\nb #! c2\nc # c3\n/* x /* nested */ y */ d /* open')).toEqual([
      ['ident', 'a'], ['comment', '-- c1'], ['ident', 'b'], ['comment', '#! c2'], ['ident', 'c'], ['comment', '# c3'],
      ['comment', '/* x /* nested */ y */'], ['ident', 'd'], ['error', '/* open'],
    ]);
  });
  it('numbers', () => {
    expect(toks('1 1.5 .5 1e10 1.5E-3 0x1F 0b101 1_000 t.1')).toEqual([
      ['number', '1'], ['number', '1.5'], ['number', '.5'], ['number', '1e10'], ['number', '1.5E-3'], ['number', '0x1F'], ['number', '0b101'],
      ['number', '1_000'], ['ident', 't'], ['op', '.'], ['number', '1'],
    ]);
  });
  it('query parameters and map literals', () => {
    expect(toks("{x:String} { d : DateTime64(3, 'UTC') } {a:Array(Int32)} {'k': 1}")).toEqual([
      ['param', '{x:String}'], ['param', "{ d : DateTime64(3, 'UTC') }"], ['param', '{a:Array(Int32)}'], ['op', '{'], ['string', "'k'"], ['op', ':'],
      ['number', '1'], ['op', '}'],
    ]);
  });
  it('operators', () => {
    expect(toks('a->b :: <= >= != <> == || ? @ ;').map((t) => t[1])).toEqual(['a', '->', 'b', '::', '<=', '>=', '!=', '<>', '==', '||', '?', '@', ';']);
  });
  it('heredoc strings', () => {
    expect(toks("$$a'b$$ $tag$x$$y$tag$")).toEqual([['string', "$$a'b$$"], ['string', '$tag$x$$y$tag$']]);
  });
  it('unicode identifiers', () => {
    expect(toks('SELECT café FROM données')).toEqual([['ident', 'SELECT'], ['ident', 'café'], ['ident', 'FROM'], ['ident', 'données']]);
  });
  it('tokens cover the input exactly, for any input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const ts = tokenizeSql(s);
        let pos = 0;
        for (const t of ts) {
          expect(t.start).toBe(pos);
          expect(t.end).toBeGreaterThan(t.start);
          expect(s.slice(t.start, t.end)).toBe(t.text);
          pos = t.end;
        }
        expect(pos).toBe(s.length);
      }),
      { numRuns: 500 },
    );
  });
  it('is fast', () => {
    const sql = "SELECT a, b, 'str''x' FROM t WHERE x = {p:String} -- c\n".repeat(2000);
    const t0 = performance.now();
    const n = tokenizeSql(sql).length;
    expect(n).toBeGreaterThan(10000);
    expect(performance.now() - t0).toBeLessThan(500);
  });
});
