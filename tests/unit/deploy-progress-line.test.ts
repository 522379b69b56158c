// The line deploy prints for a long statement: the table an INSERT fills (quoted names included), or the
// statement's start; the share read only when the server has an estimate; one line whatever the SQL holds.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { progressLine, progressPrinter } from '../../cli/src/deploy/progress.js';

const base = { queryId: 'q', elapsedS: 30.4, readRows: 41_230_000, totalRowsApprox: 100_000_000, writtenRows: 41_230_000 };

describe('progressLine', () => {
  it('names the table an INSERT fills (without its database, quotes undone), with rows of about how many, the share and the time', () => {
    expect(progressLine({ ...base, sql: 'INSERT INTO events__emailstats_new (a, b) SELECT a, b FROM events' })).toBe(
      '  … filling events__emailstats_new: 41,230,000 of ~100,000,000 rows read (41%), 41,230,000 written, 30 s',
    );
    expect(progressLine({ ...base, sql: 'INSERT INTO `db`.`odd ``name```\nSELECT 1' })).toContain('filling odd `name`: ');
    expect(progressLine({ ...base, sql: 'insert into "x" select 1' })).toContain('filling x: ');
    expect(progressLine({ ...base, sql: 'INSERT INTO db.t2 SELECT 1' })).toContain('filling t2: ');
  });

  it('leaves out the total and share when the server has no estimate, and never says more than 100%', () => {
    expect(progressLine({ ...base, sql: 'INSERT INTO t SELECT 1', totalRowsApprox: 0 })).toBe('  … filling t: 41,230,000 rows read, 41,230,000 written, 30 s');
    expect(progressLine({ ...base, sql: 'INSERT INTO t SELECT 1', totalRowsApprox: 8192, readRows: 9000 })).toContain('(100%)');
  });

  it('shows the start of any other statement on one line', () => {
    expect(progressLine({ ...base, sql: 'ALTER TABLE t ON CLUSTER c\n   ADD COLUMN x UInt8', totalRowsApprox: 0, readRows: 0, writtenRows: 0 })).toBe(
      '  … ALTER TABLE t ON CLUSTER c ADD COLUMN x UInt8: 0 rows read, 0 written, 30 s',
    );
  });

  it('is one line for any statement text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(), fc.nat(), (sql, read, total) => {
        const line = progressLine({ ...base, sql, readRows: read, totalRowsApprox: total });
        expect(line.startsWith('  … ')).toBe(true);
        expect(line).not.toMatch(/[\r\n]/);
      }),
    );
  });
});

describe('progressPrinter', () => {
  it('prints every 10 s unless EMAILSTATS_PROGRESS_INTERVAL says otherwise; 0 prints nothing', () => {
    let written = '';
    const sink = { write: (s: string) => ((written += s), true) } as unknown as NodeJS.WritableStream;
    expect(progressPrinter(sink, {})?.everyMs).toBe(10_000);
    expect(progressPrinter(sink, { EMAILSTATS_PROGRESS_INTERVAL: '3' })?.everyMs).toBe(3_000);
    expect(progressPrinter(sink, { EMAILSTATS_PROGRESS_INTERVAL: '0' })).toBeUndefined();
    expect(() => progressPrinter(sink, { EMAILSTATS_PROGRESS_INTERVAL: '1.5' })).toThrow(/EMAILSTATS_PROGRESS_INTERVAL=1.5 is not a whole number of seconds from 0 \(no progress lines\)/);
    progressPrinter(sink, {})!.report({ ...base, sql: 'INSERT INTO t SELECT 1' });
    expect(written).toBe('  … filling t: 41,230,000 of ~100,000,000 rows read (41%), 41,230,000 written, 30 s\n');
  });
});
