// Human output shared by build and dev: one line per created, changed or deleted resource.
import type { Change } from '../project/apply.js';

export function printChanges(changes: readonly Change[], out: NodeJS.WritableStream): void {
  for (const c of changes) out.write(`✓ ${c.path} ${c.action}${c.detail ? ` (${c.detail})` : ''}\n`);
}
