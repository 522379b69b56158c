// Per-target compiled mapping: jsonpath extractor + converter per column, and the row/quarantine encoder.
import type { Column } from '../datafile/types.js';
import { CoerceError, compileConverter, isNullableType, type Converter } from './coerce.js';
import { compileJsonPath, MISSING, type Extractor } from './jsonpath.js';
import { quarantineDataColumns, rawText, type QuarantineEntry } from './quarantine.js';
import { IngestError } from './errors.js';

interface ColPlan {
  name: string;
  key: string; // `"name":` precomputed
  extract: Extractor;
  convert: Converter;
  nullable: boolean;
  keepRaw: boolean;
}

export interface RowOutcome {
  line?: string;
  quarantine?: QuarantineEntry;
}

export class TargetPlan {
  private readonly cols: ColPlan[];
  constructor(readonly columns: Column[]) {
    const dataCols = new Set(quarantineDataColumns(columns).map((c) => c.name));
    this.cols = columns.map((c) => {
      try {
        return {
          name: c.name,
          key: `${JSON.stringify(c.name)}:`,
          extract: compileJsonPath(c.jsonpath, c.name),
          convert: compileConverter(c.type, c.nullable),
          nullable: c.nullable || isNullableType(c.type),
          keepRaw: dataCols.has(c.name),
        };
      } catch (e) {
        throw new IngestError(400, `column ${c.name}: ${(e as Error).message}`);
      }
    });
  }

  /**
   * One object → a JSONEachRow line, or a quarantine entry naming every column that failed. A missing
   * field (or null for a non-Nullable column) is left out, so ClickHouse applies the DEFAULT/type default.
   */
  row(obj: Record<string, unknown>, rawLine: string): RowOutcome {
    let line = '{';
    let errCols: string[] | undefined;
    let errs: string[] | undefined;
    const values: unknown[] = new Array(this.cols.length);
    for (let i = 0; i < this.cols.length; i++) {
      const c = this.cols[i];
      const v = c.extract(obj);
      values[i] = v;
      if (v === MISSING || (v === null && !c.nullable)) continue;
      try {
        const frag = v === null ? 'null' : c.convert(v);
        line += (line.length > 1 ? ',' : '') + c.key + frag;
      } catch (e) {
        if (!(e instanceof CoerceError)) throw e;
        (errCols ??= []).push(c.name);
        (errs ??= []).push(`column ${c.name}: ${e.message}`);
      }
    }
    if (!errs) return { line: line + '}\n' };
    const raw = new Map<string, string | null>();
    this.cols.forEach((c, i) => {
      if (c.keepRaw) raw.set(c.name, values[i] === MISSING ? null : rawText(values[i]));
    });
    return { quarantine: { errorColumns: errCols!, errors: errs, line: rawLine, raw } };
  }
}
