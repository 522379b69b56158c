// Starting cases for `test create <pipe>`: the defaults, each parameter alone with a value that should work,
// and a value of the wrong type for each typed parameter (expected to be refused with HTTP 400). The
// expectations are filled in afterwards by calling the endpoint, as `test update` does.
import type { ParamInfo } from '../template/index.js';
import type { TestCase } from './model.js';

const INTEGER = /^U?Int\d+$/;
const FLOAT = /^Float\d+$/;

/** A value that the parameter's type refuses, or undefined when any text is valid. */
export function badValue(p: ParamInfo): string | undefined {
  if (INTEGER.test(p.type) || FLOAT.test(p.type)) return 'abc';
  if (p.type.startsWith('DateTime') || p.type === 'Date') return 'not-a-date';
  if (p.type === 'Boolean') return 'maybe';
  if (p.enum?.length) return 'not_an_option';
  return undefined;
}

export interface GoodValue {
  value: string;
  /** Where it came from, for the case description. */
  source: string;
}

/** A value that should work: the declared example, another enum option, the default, a value from the data, or one by type. */
export function goodValue(p: ParamInfo, fromData: string | undefined): GoodValue | undefined {
  if (p.example) return { value: p.example, source: 'its example' };
  const other = p.enum?.find((v) => v !== String(p.default ?? ''));
  if (other) return { value: other, source: 'an option other than the default' };
  if (p.default !== undefined && p.default !== null && p.default !== '') return { value: String(p.default), source: 'its default' };
  if (fromData !== undefined) return { value: fromData, source: 'a value from the fixtures' };
  if (INTEGER.test(p.type)) return { value: '1', source: 'a value of its type' };
  if (FLOAT.test(p.type)) return { value: '1.5', source: 'a value of its type' };
  if (p.type === 'Boolean') return { value: 'true', source: 'a value of its type' };
  return undefined;
}

/** Query-string encoding that keeps spaces and colons readable in the YAML (fetch encodes the space). */
export function queryPair(name: string, value: string): string {
  const enc = (s: string): string => encodeURIComponent(s).replace(/%20/g, ' ').replace(/%3A/gi, ':');
  return `${enc(name)}=${enc(value)}`;
}

export interface GenerateInput {
  pipe: string;
  params: ParamInfo[];
  /** Values sampled from the fixtures, by parameter name. */
  fromData: ReadonlyMap<string, string>;
  /** A parameter every case needs (e.g. a required id), sent along with each single-parameter case. */
  base?: { name: string; value: string };
}

export interface Generated {
  cases: TestCase[];
  /** Parameters no case could be written for, and why. */
  notes: string[];
}

export function generateCases(input: GenerateInput): Generated {
  const { pipe, params, fromData, base } = input;
  const baseQuery = base ? queryPair(base.name, base.value) : '';
  const withBase = (name: string, pair: string): string => (base && name !== base.name ? `${baseQuery}&${pair}` : pair);
  const baseNote = base ? ` (with ${base.name}=${base.value}, which the endpoint requires)` : '';
  const cases: TestCase[] = [{ name: `${pipe}_default`, description: 'Default parameters', parameters: '', expected_result: '' }];
  const notes: string[] = [];
  for (const p of params) {
    const good = goodValue(p, fromData.get(p.name));
    if (good) {
      cases.push({ name: `${pipe}_${p.name}`, description: `Only ${p.name}, set to ${good.source}${base && p.name !== base.name ? baseNote : ''}`, parameters: withBase(p.name, queryPair(p.name, good.value)), expected_result: '' });
    } else {
      notes.push(`${p.name}: no example, default or value in the fixtures; add example="..." to its ${p.type}() call, or write the case by hand`);
    }
    const bad = badValue(p);
    if (bad !== undefined) {
      cases.push({
        name: `${pipe}_${p.name}_invalid`,
        description: `${p.enum?.length && p.type === 'String' ? `A value outside ${p.enum.join(', ')}` : `Not a valid ${p.type}`} for ${p.name}: expect HTTP 400`,
        parameters: withBase(p.name, queryPair(p.name, bad)),
        expected_result: '',
        expected_http_status: 400,
      });
    }
  }
  return { cases, notes };
}
