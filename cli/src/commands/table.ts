// Prints ClickHouse JSON results as an aligned text table for humans.

export interface JsonResult {
  meta: { name: string; type: string }[];
  data: Record<string, unknown>[];
  rows: number;
  statistics?: { elapsed: number; rows_read: number; bytes_read: number };
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function formatTable(result: JsonResult, maxWidth = 60): string {
  const headers = result.meta.map((m) => m.name);
  const rows = result.data.map((r) => headers.map((h) => cell(r[h]).replace(/\n/g, '\\n')));
  const widths = headers.map((h, i) => Math.min(maxWidth, Math.max(h.length, ...rows.map((r) => r[i].length))));
  const fit = (s: string, w: number): string => (s.length > w ? s.slice(0, w - 1) + '…' : s.padEnd(w));
  const line = (cells: string[]): string => cells.map((c, i) => fit(c, widths[i])).join('  ').trimEnd();
  const out = [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)];
  const stats = result.statistics ? `, ${result.statistics.elapsed.toFixed(3)}s, ${result.statistics.rows_read} rows read` : '';
  out.push(`(${result.rows} row${result.rows === 1 ? '' : 's'}${stats})`);
  return out.join('\n') + '\n';
}
