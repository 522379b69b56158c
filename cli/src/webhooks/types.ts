// Shared pieces of the provider webhooks: the row every provider maps onto (email_events' columns), the errors
// a webhook answers with, and small helpers (constant-time comparison, timestamps, stable ids).
import { createHash, timingSafeEqual } from 'node:crypto';
import { parseKeepingDigits } from '../util/exact-json.js';
import type { IncomingHttpHeaders } from 'node:http';

export type { EmailEventRow } from '../email/event-row.js';
import type { EmailEventRow } from '../email/event-row.js';
// is_machine_open (and any other flag the datasource computes) is left to its DEFAULT, which reads
// metadata.machine_open: providers that flag machine opens put `machine_open: true` there.

/** What a provider module gets to verify: the request's headers and its body exactly as received. */
export interface WebhookInput {
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Milliseconds since the epoch (a parameter, so tests can check timestamp windows). */
  now: number;
}

/** A webhook request refused: status 401 for authentication, 400 for a payload we cannot read. */
export class WebhookError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const unauthorized = (message: string): WebhookError => new WebhookError(401, message);
export const badPayload = (message: string): WebhookError => new WebhookError(400, message);

/** Compares two secrets in constant time (hashing first, so lengths do not leak either). */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/** One header's value (the first when repeated). */
export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** The body as JSON, or 400 saying it is not. */
export function parseJson(body: Buffer, what: string): unknown {
  try {
    // Big ids (Postmark's bounce IDs are 64-bit) as their digits: rounded, two events would share one id.
    return parseKeepingDigits(body.toString('utf8'));
  } catch (err) {
    throw badPayload(`${what}: the body is not JSON (${(err as Error).message})`);
  }
}

import { isJsonObject as isObject } from '../util/json.js';
export { isObject };

export function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
}

/**
 * A provider timestamp as `YYYY-MM-DD hh:mm:ss` UTC: Unix seconds (number or digits, fraction allowed) or ISO 8601
 * (`T` or space, any number of fraction digits, `Z`, `±hh:mm`, `±hhmm` or `±hh`). Undefined when unreadable.
 */
export function utcTimestamp(v: unknown): string | undefined {
  let ms: number;
  if (typeof v === 'number' || (typeof v === 'string' && /^\d+(\.\d+)?$/.test(v.trim()))) {
    ms = Number(v) * 1000;
  } else if (typeof v === 'string') {
    const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i.exec(v.trim());
    if (!m) return undefined;
    let zone = m[4] ?? 'Z';
    if (/^[+-]\d{2}$/.test(zone)) zone += ':00';
    else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`;
    ms = Date.parse(`${m[1]}T${m[2]}${(m[3] ?? '').slice(0, 4)}${zone.toUpperCase()}`);
  } else {
    return undefined;
  }
  if (!Number.isFinite(ms)) return undefined;
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19).replace('T', ' ');
}

/** A timestamp the provider must send: 400 naming the field when it is missing or unreadable. */
export function requiredTimestamp(v: unknown, field: string): string {
  const t = utcTimestamp(v);
  if (!t) throw badPayload(`'${field}' is missing or not a timestamp: ${JSON.stringify(v)?.slice(0, 60)}`);
  return t;
}

/** A stable id for events the provider gives no id to: the same event always hashes to the same id. */
export function derivedId(provider: string, parts: unknown[]): string {
  return `${provider}_${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 32)}`;
}

/** The metadata column's JSON text, without empty values. */
export function metadataJson(fields: Record<string, unknown>): string {
  const kept: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && !v.length)) continue;
    if (isObject(v) && !Object.keys(v).length) continue;
    kept[k] = v;
  }
  return JSON.stringify(kept);
}

/** A row from its fields; recipient_id falls back to the lower-cased address (unique opens count recipient_id). */
export function emailEventRow(fields: Omit<EmailEventRow, 'recipient_id'> & { recipient_id?: string }): EmailEventRow {
  return { ...fields, recipient_id: fields.recipient_id || fields.recipient_email.toLowerCase() };
}
