// What emailstats accepts as a JSON object (an event, a request body, a webhook payload): not null, not an array,
// and not an ExactNumber (a big number kept as its digits is a number).
import { isExactNumber } from './exact-json.js';

export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !isExactNumber(v);
}
