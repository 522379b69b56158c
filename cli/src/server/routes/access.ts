// Which project resources a token may read by name (used to check tables referenced by request SQL).
import type { TokenRecord } from '../auth.js';
import type { Workspace } from '../workspace.js';

export function readableResource(ws: Workspace, token: TokenRecord, name: string): 'ok' | 'denied' | 'unknown' {
  const admin = token.scopes.some((s) => s.type === 'ADMIN');
  // Service datasources (tinybird.pipe_stats_rt) span every pipe and token: admin only.
  if (name.startsWith('tinybird.')) return admin ? 'ok' : 'denied';
  const quarantineOf = name.endsWith('_quarantine') ? name.slice(0, -'_quarantine'.length) : undefined;
  const dsName = ws.project.datasources.has(name) ? name : quarantineOf && ws.project.datasources.has(quarantineOf) ? quarantineOf : undefined;
  if (dsName) {
    return admin || token.scopes.some((s) => s.type === 'DATASOURCES:READ' && (!s.resource || s.resource === dsName)) ? 'ok' : 'denied';
  }
  if (ws.project.pipes.has(name)) {
    return admin || token.scopes.some((s) => s.type === 'PIPES:READ' && (!s.resource || s.resource === name)) ? 'ok' : 'denied';
  }
  return 'unknown';
}
