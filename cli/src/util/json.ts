// What emailstats accepts as a JSON object (an event, a request body, a webhook payload): not null, not an array.

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
