// Datafile problems: one type for everything the parser reports, and the human format `check`/`build` print.
import type { Diagnostic, Severity, SourcePos } from './types.js';

/** A problem at a position of a datafile; thrown by later stages, collected as `Diagnostic` by the parser. */
export class DatafileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly col: number,
    message: string,
    readonly hint?: string,
    readonly severity: Severity = 'error',
  ) {
    super(message);
    this.name = 'DatafileError';
  }

  toDiagnostic(): Diagnostic {
    const d: Diagnostic = { file: this.file, line: this.line, col: this.col, message: this.message, severity: this.severity };
    if (this.hint) d.hint = this.hint;
    return d;
  }

  format(sourceText?: string): string {
    return formatDiagnostic(this.toDiagnostic(), sourceText);
  }
}

/** Collects diagnostics for one file. */
export class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  constructor(readonly file: string) {}

  error(pos: SourcePos, message: string, hint?: string): void {
    this.push('error', pos, message, hint);
  }

  warn(pos: SourcePos, message: string, hint?: string): void {
    this.push('warning', pos, message, hint);
  }

  get hasErrors(): boolean {
    return this.diagnostics.some((d) => d.severity === 'error');
  }

  get warnings(): Diagnostic[] {
    return this.diagnostics.filter((d) => d.severity === 'warning');
  }

  private push(severity: Severity, pos: SourcePos, message: string, hint?: string): void {
    const d: Diagnostic = { file: this.file, line: pos.line, col: pos.col, message, severity };
    if (hint) d.hint = hint;
    this.diagnostics.push(d);
  }
}

/**
 * `path:line:col: message` (warnings: `path:line:col: warning: message`), then `  hint: ...`, then up to
 * three numbered source lines ending at the error line and a caret under the column.
 */
export function formatDiagnostic(d: Diagnostic, sourceText?: string): string {
  const tag = d.severity === 'warning' ? 'warning: ' : '';
  let out = `${d.file}:${d.line}:${d.col}: ${tag}${d.message}`;
  if (d.hint) out += `\n  hint: ${d.hint}`;
  if (sourceText !== undefined) {
    const lines = sourceText.split(/\r\n|\r|\n/);
    if (d.line >= 1 && d.line <= lines.length) {
      const first = Math.max(1, d.line - 2);
      const width = String(d.line).length;
      for (let n = first; n <= d.line; n++) out += `\n  ${String(n).padStart(width)}: ${lines[n - 1]}`;
      const src = lines[d.line - 1] ?? '';
      // Keep tabs so the caret lines up with the source as the terminal shows it.
      let pad = '';
      for (let i = 0; i < d.col - 1; i++) pad += src[i] === '\t' ? '\t' : ' ';
      out += `\n  ${' '.repeat(width)}  ${pad}^`;
    }
  }
  return out;
}

/** Tinybird's own rendering without context: `<message> at <line>:<col>.` plus `\n<hint>.`. */
export function tinybirdMessage(d: Diagnostic): string {
  let out = `${d.message} at ${d.line}:${d.col}.`;
  if (d.hint) out += `\n${d.hint}.`;
  return out;
}
