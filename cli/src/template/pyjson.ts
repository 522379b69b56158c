// json.loads() with Python's result types (int -> bigint, float -> number, object -> Map) and
// Python's error messages ("Expecting value: line 1 column 1 (char 0)").
import type { PyDict, PyValue } from './values.js';

export class JSONDecodeError extends Error {}

function fail(msg: string, doc: string, pos: number): never {
  const before = doc.slice(0, pos);
  const lineno = (before.match(/\n/g)?.length ?? 0) + 1;
  const nl = before.lastIndexOf('\n');
  const colno = nl < 0 ? pos + 1 : pos - nl;
  throw new JSONDecodeError(`${msg}: line ${lineno} column ${colno} (char ${pos})`);
}

const WS = /[ \t\n\r]*/y;
const NUMBER = /(-?(?:0|[1-9]\d*))(\.\d+)?([eE][-+]?\d+)?/y;
const MAX_DEPTH = 500;

export function pyJsonLoads(doc: string): PyValue {
  let i = 0;
  const ws = () => {
    WS.lastIndex = i;
    WS.exec(doc);
    i = WS.lastIndex;
  };
  const value = (depth: number): PyValue => {
    if (depth > MAX_DEPTH) throw new JSONDecodeError('maximum recursion depth exceeded while decoding a JSON document');
    const c = doc[i];
    if (c === '"') return string();
    if (c === '{') return object(depth);
    if (c === '[') return array(depth);
    if (c === 'n' && doc.startsWith('null', i)) return (i += 4), null;
    if (c === 't' && doc.startsWith('true', i)) return (i += 4), true;
    if (c === 'f' && doc.startsWith('false', i)) return (i += 5), false;
    if (c === 'N' && doc.startsWith('NaN', i)) return (i += 3), NaN;
    if (c === 'I' && doc.startsWith('Infinity', i)) return (i += 8), Infinity;
    if (c === '-' && doc.startsWith('-Infinity', i)) return (i += 9), -Infinity;
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(doc);
    if (m) {
      i = NUMBER.lastIndex;
      if (m[2] || m[3]) return parseFloat(m[0]);
      return BigInt(m[1]!);
    }
    fail('Expecting value', doc, i);
  };
  const string = (): string => {
    const begin = i;
    i++;
    let out = '';
    for (;;) {
      if (i >= doc.length) fail('Unterminated string starting at', doc, begin);
      const c = doc[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const e = doc[i + 1];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e !== undefined && simple[e] !== undefined) {
          out += simple[e];
          i += 2;
        } else if (e === 'u') {
          const hex = doc.slice(i + 2, i + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('Invalid \\uXXXX escape', doc, i + 1);
          out += String.fromCharCode(parseInt(hex, 16));
          i += 6;
        } else {
          if (e === undefined) fail('Unterminated string starting at', doc, begin);
          fail('Invalid \\escape', doc, i);
        }
        continue;
      }
      if (c.charCodeAt(0) < 0x20) fail('Invalid control character at', doc, i);
      out += c;
      i++;
    }
  };
  const object = (depth: number): PyDict => {
    const m: PyDict = new Map();
    i++;
    ws();
    if (doc[i] === '}') {
      i++;
      return m;
    }
    for (;;) {
      if (doc[i] !== '"') fail('Expecting property name enclosed in double quotes', doc, i);
      const k = string();
      ws();
      if (doc[i] !== ':') fail("Expecting ':' delimiter", doc, i);
      i++;
      ws();
      m.set(k, value(depth + 1));
      ws();
      if (doc[i] === '}') {
        i++;
        return m;
      }
      if (doc[i] !== ',') fail("Expecting ',' delimiter", doc, i);
      i++;
      ws();
      if (doc[i] === '}') fail('Expecting property name enclosed in double quotes', doc, i);
    }
  };
  const array = (depth: number): PyValue[] => {
    const a: PyValue[] = [];
    i++;
    ws();
    if (doc[i] === ']') {
      i++;
      return a;
    }
    for (;;) {
      a.push(value(depth + 1));
      ws();
      if (doc[i] === ']') {
        i++;
        return a;
      }
      if (doc[i] !== ',') fail("Expecting ',' delimiter", doc, i);
      i++;
      ws();
    }
  };
  ws();
  const v = value(0);
  ws();
  if (i !== doc.length) fail('Extra data', doc, i);
  return v;
}
