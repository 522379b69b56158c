// A separate process that takes a write-ahead log folder's lock, for tests/unit/wal-lock.test.ts (run with
// bin/run-ts.mjs). `hold <dir>`: takes it, prints "held", and keeps it until killed.
// `contend <dir> <log> <holdMs> [staleMs]`: takes it as soon as it can, appends "acquire <pid>" to <log>, holds it for
// <holdMs>, appends "release <pid>", releases it and exits.
import { appendFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WalInUseError, WalLock } from '../../cli/src/ingest/wal-lock.js';

const [mode, dir, log, holdMs, staleMs] = process.argv.slice(2);
const opts = { hint: 'test', onLost: (m: string) => void process.stdout.write(`lost: ${m}\n`), ...(staleMs ? { staleMs: Number(staleMs) } : {}) };

if (mode === 'hold') {
  await WalLock.acquire(dir, opts);
  process.stdout.write('held\n');
  setInterval(() => {}, 60_000);
} else if (mode === 'contend') {
  for (;;) {
    try {
      const lock = await WalLock.acquire(dir, opts);
      appendFileSync(log, `acquire ${process.pid}\n`);
      await sleep(Number(holdMs));
      appendFileSync(log, `release ${process.pid}\n`);
      await lock.release();
      break;
    } catch (e) {
      if (!(e instanceof WalInUseError)) throw e;
      await sleep(20);
    }
  }
} else {
  throw new Error(`usage: wal-lock-holder.ts hold <dir> | contend <dir> <log> <holdMs>`);
}
