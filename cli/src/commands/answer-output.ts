// How `endpoint data` and `sql` print an answer: a table for humans, the text of a text format, or the bytes of
// Parquet, which only go to a redirected stdout.
import { UserError } from '../util/fatal.js';
import { formatTable, type JsonResult } from './table.js';

/** Refuses Parquet on a terminal before any engine opens: the file would be noise there. */
export function checkAnswerFormat(format: string, example: string): void {
  if (format === 'parquet' && process.stdout.isTTY) throw new UserError(`--format parquet writes a binary file: redirect it, e.g. > ${example}.parquet`);
}

/** Writes the answer to stdout: `human` as a table of its JSON, Parquet as bytes, the rest as text. */
export async function writeAnswer(res: Response, format: string): Promise<void> {
  if (format === 'parquet') return void process.stdout.write(Buffer.from(await res.arrayBuffer()));
  const text = await res.text();
  process.stdout.write(format === 'human' ? formatTable(JSON.parse(text) as JsonResult) : text);
}
