// A one-line progress bar for long commands on a terminal (redrawn in place with \r).

export interface ProgressState {
  /** Bytes of input read so far, and in all (absent when the size is unknown, e.g. a URL without length). */
  readBytes: number;
  totalBytes?: number;
  /** Rows and quarantined rows, once known (an upload learns them only from the server's answer). */
  rows?: number;
  quarantined?: number;
  elapsedSeconds: number;
}

const WIDTH = 24;

function megabytes(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function formatProgress(s: ProgressState): string {
  const per = (n: number): number => (s.elapsedSeconds > 0 ? n / s.elapsedSeconds : 0);
  const counts =
    s.rows === undefined
      ? `${megabytes(per(s.readBytes))}/s`
      : `${s.rows.toLocaleString('en-US')} rows, ${(s.quarantined ?? 0).toLocaleString('en-US')} quarantined, ${Math.round(per(s.rows)).toLocaleString('en-US')} rows/s`;
  if (!s.totalBytes) return `» ${megabytes(s.readBytes)} read, ${counts}`;
  const frac = Math.min(1, s.readBytes / s.totalBytes);
  const filled = Math.round(frac * WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${(frac * 100).toFixed(0).padStart(3)}% ${megabytes(s.readBytes)} / ${megabytes(s.totalBytes)}, ${counts}`;
}

/** Redraws the bar on `out` at most every `everyMs`; `done()` leaves the last state on its own line. */
export function progressBar(out: NodeJS.WriteStream, everyMs = 200) {
  let last = 0;
  let width = 0;
  const draw = (s: ProgressState) => {
    const line = formatProgress(s);
    out.write(`\r${line}${' '.repeat(Math.max(0, width - line.length))}`);
    width = line.length;
  };
  return {
    update(s: ProgressState, force = false): void {
      const now = Date.now();
      if (!force && now - last < everyMs) return;
      last = now;
      draw(s);
    },
    done(s: ProgressState): void {
      draw(s);
      out.write('\n');
    },
  };
}
