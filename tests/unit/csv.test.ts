// CSV records for datasources (fixtures, appends): header detection, field rules, ClickHouse literals.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvHeaderError, csvColumns, csvFieldRules, csvRecord, parseCompositeField, parseCsvLine } from '../../cli/src/project/csv.js';
import { quoteString } from '../../cli/src/sql/quote.js';
import type { Column } from '../../cli/src/datafile/types.js';

const col = (name: string, type: string, nullable = false) => ({ name, type, nullable }) as Column;
const COLUMNS = [col('id', 'UInt64'), col('tags', 'Array(String)'), col('note', 'Nullable(String)'), col('kind', 'LowCardinality(String)'), col('m', 'Map(String, Array(Int32))')];
const NAMES = COLUMNS.map((c) => c.name);

describe('CSV header', () => {
  it('is the first record when its fields name columns, in any order, empty names skipped', () => {
    expect(csvColumns(parseCsvLine('kind, id,,tags'), 'ds', NAMES)).toEqual({ names: ['kind', 'id', '', 'tags'], isHeader: true });
  });
  it('is absent when the first record names no column: fields map in schema order', () => {
    expect(csvColumns(parseCsvLine("1,\"['a']\",\\N,open"), 'ds', NAMES)).toEqual({ names: NAMES, isHeader: false });
  });
  it('is refused when it names a column the datasource lacks', () => {
    expect(() => csvColumns(['id', 'kindd', 'tagz'], 'ds', NAMES)).toThrow(CsvHeaderError);
    expect(() => csvColumns(['id', 'kindd'], 'ds', NAMES)).toThrow(/names 'kindd', which datasource 'ds' has no column for \(its columns: id, tags, note, kind, m\)/);
  });
});

describe('CSV records', () => {
  const rules = csvFieldRules(COLUMNS);
  it('empty is missing, \\N is NULL only where the column is Nullable, composite literals are parsed', () => {
    const rec = (line: string) => csvRecord(NAMES, parseCsvLine(line), rules);
    expect(rec(`7,"['a\\'b','c\\\\d']",\\N,\\N,"{'k':[1,2]}",extra`)).toEqual({ id: '7', tags: ["a'b", 'c\\d'], note: null, m: { k: [1, 2] } });
    expect(rec('7,,,,')).toEqual({ id: '7' });
    expect(rec('7,"[""x""]",n,open,{}')).toEqual({ id: '7', tags: ['x'], note: 'n', kind: 'open', m: {} });
    // Not a literal: left as text, for the column's converter to reject with its reason.
    expect(rec("7,['unterminated,x,y,z")).toMatchObject({ tags: "['unterminated" });
  });
  it('ClickHouse literals: tuples, NULL and escapes', () => {
    expect(parseCompositeField("[(1,'a'),(2,NULL)]")).toEqual([[1, 'a'], [2, null]]);
    expect(parseCompositeField("['tab\\there','nl\\n','null']")).toEqual(['tab\there', 'nl\n', 'null']);
    expect(parseCompositeField('[nan]')).toBeUndefined();
  });
  it('round-trips any array of strings written with ClickHouse quoting (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme-composite' }), { maxLength: 6 }), (items) => {
        expect(parseCompositeField(`[${items.map(quoteString).join(',')}]`)).toEqual(items);
      }),
      { numRuns: 2000 },
    );
  });
  it('never throws on hostile fields (property)', () => {
    const piece = fc.oneof(fc.constantFrom("'", '\\', '[', ']', '(', ')', '{', '}', ',', ':', 'NULL', 'null', '"', '\\N', 'nan'), fc.string({ maxLength: 6 }));
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }).map((xs) => xs.join('')), (text) => {
        parseCompositeField(text);
        const r = csvRecord(NAMES, parseCsvLine(text), rules);
        for (const k of Object.keys(r)) expect(NAMES).toContain(k);
      }),
      { numRuns: 3000 },
    );
  });
});
