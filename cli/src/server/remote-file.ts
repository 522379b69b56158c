// Fetching the file of a Data Sources API import from a URL (`POST /v0/datasources?url=...`). The server makes
// the request itself, so it is bounded: http(s) only, no credentials in the URL, a size cap on the decoded bytes
// (a gzip response cannot inflate past it) and one deadline for the whole download. Who may make the server
// fetch is decided by the route (an admin token on `serve`, see datasource-data.ts).
import { HttpError } from './http.js';

const REMOTE_FILE_TIMEOUT_MS = 30_000;

export interface RemoteFile {
  bytes: Buffer;
  contentType: string;
  /** The URL's path, for format detection by extension. */
  pathname: string;
}

function parseSourceUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new HttpError(400, `url '${text}' is not an absolute URL: send e.g. url=https://example.com/events.ndjson`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new HttpError(400, `url must be http:// or https://, got '${url.protocol}' in '${text}'`);
  if (url.username || url.password) throw new HttpError(400, 'url must not carry credentials (user:password@); use a pre-signed or public URL');
  return url;
}

/** Downloads `text` (at most `maxBytes` bytes, within `timeoutMs`). Failures are the caller's input: 4xx. */
export async function fetchRemoteFile(text: string, maxBytes: number, timeoutMs = REMOTE_FILE_TIMEOUT_MS): Promise<RemoteFile> {
  const url = parseSourceUrl(text);
  const shown = `${url.origin}${url.pathname}`; // no query string: it may hold a signature
  const signal = AbortSignal.timeout(timeoutMs);
  const timedOut = (): HttpError => new HttpError(408, `fetching ${shown} took longer than ${timeoutMs / 1000} s; make the file smaller or serve it faster`);
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (e) {
    if (signal.aborted) throw timedOut();
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new HttpError(400, `cannot fetch ${shown}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new HttpError(400, `fetching ${shown} answered HTTP ${res.status}; check the URL (a pre-signed URL may have expired)`);
  }
  const tooLarge = (): HttpError => new HttpError(413, `the file at ${shown} is larger than the ${maxBytes}-byte limit of URL imports (the server's body limit); split it, or upload it as a multipart file`);
  if (Number(res.headers.get('content-length') ?? 0) > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body ?? []) {
      size += (chunk as Uint8Array).length;
      if (size > maxBytes) throw tooLarge(); // leaving the loop cancels the download
      chunks.push(Buffer.from(chunk as Uint8Array));
    }
  } catch (e) {
    if (e instanceof HttpError) throw e;
    if (signal.aborted) throw timedOut();
    throw new HttpError(400, `reading ${shown} failed: ${(e as Error).message}`);
  }
  return { bytes: Buffer.concat(chunks), contentType: res.headers.get('content-type') ?? '', pathname: url.pathname };
}
