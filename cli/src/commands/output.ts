// Human output shared by build and dev: one line per created, changed or deleted resource.
import { formatChange, type Change } from '../project/apply.js';

export function printChanges(changes: readonly Change[], out: NodeJS.WritableStream): void {
  for (const c of changes) out.write(formatChange(c) + '\n');
}
