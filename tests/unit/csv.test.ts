// CSV records for datasources (fixtures, appends): header detection, field rules, ClickHouse literals, placement.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvHeaderError, CsvRecords, csvColumns, parseCompositeField, parseCsvLine } from '../../cli/src/project/csv.js';
import { quoteString } from '../../cli/src/sql/quote.js';
import type { Column } from '../../cli/src/datafile/types.js';

const col = (name: string, type: string, jsonpath?: string) => ({ name, type, nullable: false, ...(jsonpath ? { jsonpath } : {}) }) as Column;
const COLUMNS = [col('id', 'UInt64'), col('tags', 'Array(String)'), col('note', 'Nullable(String)'), col('kind', 'LowCardinality(String)'), col('m', 'Map(String, Array(Int64))')];
const NAMES = COLUMNS.map((c) => c.name);
const texts = (line: string) => parseCsvLine(line).map((f) => f.text);

describe('CSV header', () => {
  it('is the first record when a field names a column (any order, any case when unambiguous), empty names skipped', () => {
    expect(csvColumns(texts('kind, ID,,tags'), 'ds', NAMES)).toEqual({ names: ['kind', 'id', '', 'tags'], isHeader: true });
  });
  it('is absent when the first record names no column: fields map in schema order', () => {
    expect(csvColumns(texts("1,\"['a']\",\\N,open"), 'ds', NAMES)).toEqual({ names: NAMES, isHeader: false });
  });
  it('is refused when it names a column the datasource lacks, with what to do', () => {
    expect(() => csvColumns(['id', 'kindd', 'tagz'], 'ds', NAMES)).toThrow(CsvHeaderError);
    expect(() => csvColumns(['id', 'kindd'], 'ds', NAMES)).toThrow(
      /names 'kindd', which datasource 'ds' has no column for \(its columns: id, tags, note, kind, m\); .*If the first line is data, not a header, put a header line/,
    );
  });
});

describe('CSV records', () => {
  const byName = () => new CsvRecords('ds', COLUMNS, 'column-name');
  const one = (line: string) => {
    const csv = byName();
    csv.next('id,tags,note,kind,m');
    return csv.next(line);
  };
  it('empty is no value, "" is the empty string, an unquoted \\N is NULL only where the column is Nullable', () => {
    expect(one('7,,,,')).toEqual({ id: '7' });
    expect(one('7,,"",""')).toEqual({ id: '7', note: '', kind: '' });
    expect(one('7,,\\N,\\N')).toEqual({ id: '7', note: null });
    expect(one('7,,"\\N",')).toEqual({ id: '7', note: '\\N' });
  });
  it('reads composite literals: ClickHouse quoting, JSON, tuples, NULL, nan/inf, and long numbers as exact text', () => {
    expect(one(`7,"['a\\'b','c\\\\d']",,,"{'k':[1,2]}",extra`)).toEqual({ id: '7', tags: ["a'b", 'c\\d'], m: { k: [1, 2] } });
    expect(one('7,"[""x""]",n,open,{}')).toEqual({ id: '7', tags: ['x'], note: 'n', kind: 'open', m: {} });
    expect(parseCompositeField("[(1,'a'),(2,NULL)]")).toEqual([[1, 'a'], [2, null]]);
    expect(parseCompositeField("['tab\\there','nl\\n','null']")).toEqual(['tab\there', 'nl\n', 'null']);
    expect(parseCompositeField('[nan,-inf,1.5]')).toEqual(['nan', '-inf', 1.5]);
    expect(parseCompositeField('[12345678901234567890,-0.123456789012345678]')).toEqual(['12345678901234567890', '-0.123456789012345678']);
    expect(parseCompositeField(`["it's", "a\\"b"]`)).toEqual(["it's", 'a"b']);
    // Not a literal: left as text, for the column's converter to reject with its reason.
    expect(one("7,['unterminated,x,y,z")).toMatchObject({ tags: "['unterminated" });
  });
  it('places values where the jsonpaths read them, for Events API input', () => {
    const cols = [col('id', 'UInt64', '$.id'), col('city', 'String', '$.geo.city'), col('zip', 'String', "$.geo['zip-code']"), col('ids', 'Array(Int32)', '$.items[:].id'), col('names', 'Array(String)', '$.items[:].name'), col('first', 'String', '$.list[0]'), col('tags', 'Array(String)', '$.tags[:]')];
    const csv = new CsvRecords('ds', cols, 'jsonpath');
    expect(csv.next('id,city,zip,ids,names,first,tags')).toBeUndefined();
    expect(csv.next(`1,Paris,75001,"[1,2]","['a','b']",x,['t']`)).toEqual({
      id: '1',
      geo: { city: 'Paris', 'zip-code': '75001' },
      items: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }],
      list: ['x'],
      tags: ['t'],
    });
  });
  it('round-trips any array of strings written with ClickHouse quoting (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme-composite' }), { maxLength: 6 }), (items) => {
        expect(parseCompositeField(`[${items.map(quoteString).join(',')}]`)).toEqual(items);
      }),
      { numRuns: 2000 },
    );
  });
  it('keeps every integer exact, however long (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }), { maxLength: 5 }), (ints) => {
        const got = parseCompositeField(`[${ints.join(',')}]`) as (number | string)[];
        expect(got.map((v) => BigInt(v))).toEqual(ints);
      }),
      { numRuns: 2000 },
    );
  });
  it('never throws on hostile lines, and only ever yields columns (property)', () => {
    const piece = fc.oneof(fc.constantFrom("'", '\\', '[', ']', '(', ')', '{', '}', ',', ':', 'NULL', 'null', '"', '""', '\\N', 'nan', '-', '1e5', '9'.repeat(30)), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }).map((xs) => xs.join('')), (text) => {
        parseCompositeField(text);
        const csv = byName();
        csv.next('id,tags,note,kind,m');
        for (const k of Object.keys(csv.next(text)!)) expect(NAMES).toContain(k);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('CSV dialects (dialect_delimiter, dialect_escapechar)', () => {
  const noNewline = fc.string({ unit: 'grapheme' }).map((s) => s.replace(/[\r\n]/g, ' '));

  it('splits on the dialect delimiter, which is literal inside quotes', () => {
    expect(parseCsvLine('a;"b;c";;d', { delimiter: ';' }).map((f) => f.text)).toEqual(['a', 'b;c', '', 'd']);
    expect(parseCsvLine('a\t"b,c"\td', { delimiter: '\t' }).map((f) => f.text)).toEqual(['a', 'b,c', 'd']);
    expect(parseCsvLine('a,b', { delimiter: ';' }).map((f) => f.text)).toEqual(['a,b']);
  });

  it('reads the escape character as making the next character literal inside quotes; doubled quotes still work', () => {
    expect(parseCsvLine('"say \\"hi\\"",x', { delimiter: ',', escapeChar: '\\' }).map((f) => f.text)).toEqual(['say "hi"', 'x']);
    expect(parseCsvLine('"a\\\\b","c""d"', { delimiter: ',', escapeChar: '\\' }).map((f) => f.text)).toEqual(['a\\b', 'c"d']);
    // Outside quotes too, as Python's csv reader: an escaped delimiter is part of the field.
    expect(parseCsvLine('a\\,b,c\\\\d', { delimiter: ',', escapeChar: '\\' }).map((f) => f.text)).toEqual(['a,b', 'c\\d']);
  });

  it('gives back any fields written with any delimiter (quotes doubled)', () => {
    fc.assert(
      fc.property(fc.constantFrom(',', ';', '\t', '|', '^'), fc.array(noNewline, { minLength: 1, maxLength: 6 }), (delimiter, fields) => {
        const line = fields.map((f) => `"${f.replace(/"/g, '""')}"`).join(delimiter);
        expect(parseCsvLine(line, { delimiter }).map((f) => f.text)).toEqual(fields);
      }),
    );
  });

  it('gives back any fields written with an escape character instead of doubled quotes', () => {
    fc.assert(
      fc.property(fc.constantFrom('\\', '~'), fc.array(noNewline, { minLength: 1, maxLength: 6 }), (escapeChar, fields) => {
        const esc = (f: string) => [...f].map((ch) => (ch === '"' || ch === escapeChar ? escapeChar + ch : ch)).join('');
        const line = fields.map((f) => `"${esc(f)}"`).join(',');
        expect(parseCsvLine(line, { delimiter: ',', escapeChar }).map((f) => f.text)).toEqual(fields);
      }),
    );
  });

  it('maps the fields of a semicolon file to columns through CsvRecords', () => {
    const records = new CsvRecords('ds', [col('id', 'UInt64'), col('kind', 'String')], 'column-name', { delimiter: ';' });
    expect(records.next('id;kind')).toBeUndefined();
    expect(records.next('7;"open;ed"')).toEqual({ id: '7', kind: 'open;ed' });
  });
});
