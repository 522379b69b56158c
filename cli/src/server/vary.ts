// `Vary` is shared by CORS (Origin) and compression (Accept-Encoding): each adds its name without dropping the other's.
import type { ServerResponse } from 'node:http';

export function appendVary(res: ServerResponse, name: string): void {
  const current = res.getHeader('vary');
  const names = current === undefined ? [] : String(current).split(',').map((v) => v.trim()).filter(Boolean);
  if (names.some((n) => n === '*' || n.toLowerCase() === name.toLowerCase())) return;
  res.setHeader('vary', [...names, name].join(', '));
}
