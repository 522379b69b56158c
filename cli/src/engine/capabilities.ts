// Feature detection by server version. Generated SQL asks these before using anything newer than ClickHouse 18.16.
import type { Capabilities, ServerVersion } from './types.js';

export function parseVersion(text: string): ServerVersion {
  const [major = 0, minor = 0, patch = 0] = text.split('.').map((p) => Number.parseInt(p, 10) || 0);
  return { major, minor, patch, text };
}

/** Whether the server is at least version `since` ('major.minor'). */
export function atLeast(v: ServerVersion, since: string): boolean {
  const [major, minor] = since.split('.').map(Number);
  return v.major > major || (v.major === major && v.minor >= minor);
}

/** The first ClickHouse version with each capability; error messages quote these. */
export const CAPABILITY_VERSIONS: Record<keyof Capabilities, string> = {
  insertDeduplicationToken: '22.2',
  queryParameters: '19.15',
  exchangeTables: '20.7',
  dateTime64: '20.1',
  ttl: '19.6',
  lowCardinality: '19.9',
  readonlySetting: '1.1',
};

export function capabilitiesFor(v: ServerVersion): Capabilities {
  const caps = {} as Capabilities;
  for (const [name, since] of Object.entries(CAPABILITY_VERSIONS) as [keyof Capabilities, string][]) caps[name] = atLeast(v, since);
  return caps;
}

/** The message for something the connected server is too old to run. */
export function needsVersionMessage(what: string, since: string, v: ServerVersion): string {
  return `${what} requires ClickHouse ${since} or newer; the server runs ${v.text}. Upgrade the server, or change the datafile not to use it`;
}
