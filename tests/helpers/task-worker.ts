// A worker module for tests of util/worker-pool.ts: echoes, throws (with or without a status) or exits on demand.
import { serveTasks } from '../../cli/src/util/worker-pool.js';

export type Task = { op: 'echo'; value: unknown; delayMs?: number } | { op: 'throw' } | { op: 'status' } | { op: 'exit' };

serveTasks<Task, unknown>((t) => {
  switch (t.op) {
    case 'echo':
      if (t.delayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, t.delayMs);
      return { result: t.value };
    case 'throw':
      throw new Error('boom');
    case 'status':
      throw Object.assign(new Error('bad input'), { status: 400 });
    case 'exit':
      process.exit(3);
  }
});
