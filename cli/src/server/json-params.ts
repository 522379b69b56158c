// Endpoint parameters in a JSON object body: `POST /v0/pipes/<pipe>.json` with `Content-Type: application/json`,
// which clients send when the URL would be too long for GET. Values become parameters the way the query string
// would carry them (arrays repeat the name, objects travel as JSON text, null leaves the parameter out).
import { HttpError, type Request } from './http.js';
import { exactValue, isExactNumber, jsonText } from '../util/exact-json.js';
import { isJsonObject } from '../util/json.js';

function asText(name: string, v: unknown): string {
  // A number a double would round travels as its digits, alone or inside an object.
  if (isExactNumber(v)) return v.value;
  if (typeof v === 'object') return jsonText(v);
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new HttpError(400, `parameter '${name}' in the JSON body must be a string, number, boolean, array or object`);
}

/** True when the request says its body is JSON. */
export function isJsonBody(req: Request): boolean {
  return String(req.headers['content-type'] ?? '').startsWith('application/json');
}

/** Adds the parameters of a JSON body to `req.params`; for a name in both, the body wins. */
export function addJsonBodyParams(req: Request): void {
  if (!isJsonBody(req) || !req.body?.length) return;
  let body: unknown;
  try {
    // A 64-bit id sent as a number is the parameter its digits make, as in a query string, not a rounded double.
    const text = req.body.toString('utf8');
    body = exactValue(text, JSON.parse(text));
  } catch (e) {
    throw new HttpError(400, `the JSON body is not valid JSON (${(e as Error).message}): send an object of parameters, e.g. {"campaign_id": "camp_1"}`);
  }
  if (!isJsonObject(body)) throw new HttpError(400, 'the JSON body must be an object of parameters, e.g. {"campaign_id": "camp_1"}');
  for (const [name, value] of Object.entries(body)) {
    if (value === null || value === undefined) continue;
    const values = Array.isArray(value) ? value.filter((v) => v !== null).map((v) => asText(name, v)) : [asText(name, value)];
    req.params.set(name, values);
  }
}
