// Amazon SNS HTTP(S) deliveries: the message signature (SignatureVersion 1 = SHA1withRSA, 2 = SHA256withRSA) over
// the canonical string of the message's fields, checked with the certificate at SigningCertURL, which is fetched
// only from https://sns.<region>.amazonaws.com; or with a certificate the user configured (tests, air-gapped).
// https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
import { createPublicKey, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { badPayload, isObject, str, unauthorized, WebhookError } from './types.js';

export interface SnsMessage {
  Type: string;
  MessageId: string;
  TopicArn: string;
  Message: string;
  Timestamp: string;
  SignatureVersion: string;
  Signature: string;
  SigningCertURL: string;
  Subject?: string;
  Token?: string;
  SubscribeURL?: string;
}

/** Only AWS's own SNS hosts may hand us a certificate or a subscription to confirm. */
// A region label (us-east-1, us-gov-west-1, cn-north-1), not any label: `sns.s3.amazonaws.com` is an S3 bucket's host.
const SNS_HOST = /^sns\.[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d+\.amazonaws\.com(\.cn)?$/;
/** Where SNS keeps its signing certificates. */
const SNS_CERT_PATH = /^\/SimpleNotificationService-[A-Za-z0-9]+\.pem$/;

/** The URL if it is https on an SNS host; 400 naming the rule otherwise (we never fetch anything else). */
export function snsUrl(value: string, field: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw badPayload(`SNS ${field} is not a URL: ${value.slice(0, 100)}`);
  }
  if (url.protocol !== 'https:' || !SNS_HOST.test(url.hostname) || url.username || url.password || url.port)
    throw badPayload(`SNS ${field} must be an https URL on sns.<region>.amazonaws.com, not ${url.origin}: refused, nothing fetched`);
  if (field === 'SigningCertURL' && !SNS_CERT_PATH.test(url.pathname))
    throw badPayload(`SNS SigningCertURL must name a /SimpleNotificationService-<id>.pem certificate, not ${url.pathname.slice(0, 100)}: refused, nothing fetched`);
  return url;
}

/** The fields the signature covers, in order, per message type. */
function canonicalFields(m: SnsMessage): (keyof SnsMessage)[] {
  if (m.Type === 'Notification') return m.Subject !== undefined ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] : ['Message', 'MessageId', 'Timestamp', 'TopicArn', 'Type'];
  return ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
}

export function snsStringToSign(m: SnsMessage): string {
  return canonicalFields(m).map((k) => `${k}\n${m[k] ?? ''}\n`).join('');
}

/** Reads the SNS envelope; 400 when it is not one. */
export function parseSnsMessage(payload: unknown): SnsMessage {
  if (!isObject(payload)) throw badPayload('SNS message must be a JSON object (turn raw message delivery off for this subscription)');
  for (const k of ['Type', 'MessageId', 'TopicArn', 'Timestamp', 'SignatureVersion', 'Signature', 'SigningCertURL'])
    if (!str(payload[k])) throw badPayload(`SNS message without '${k}': is raw message delivery on? emailstats needs the SNS envelope, turn it off`);
  if (typeof payload.Message !== 'string') throw badPayload("SNS message without 'Message'");
  const m = payload as unknown as SnsMessage;
  if (m.Subject !== undefined && typeof m.Subject !== 'string') throw badPayload("SNS 'Subject' must be a string");
  return m;
}

/** Certificates fetched from SNS, by URL (a handful per deployment; bounded anyway). */
const certCache = new Map<string, Promise<KeyObject>>();
const CERT_CACHE_MAX = 32;
const MAX_CERT_BYTES = 64 * 1024;

async function fetchCertificate(url: URL): Promise<KeyObject> {
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`GET ${url.href} answered ${res.status}`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > MAX_CERT_BYTES) throw new Error(`GET ${url.href}: certificate larger than ${MAX_CERT_BYTES} bytes`);
    chunks.push(chunk);
  }
  return new X509Certificate(Buffer.concat(chunks)).publicKey;
}

function signingKey(m: SnsMessage, configured: KeyObject | undefined): Promise<KeyObject> {
  if (configured) return Promise.resolve(configured);
  const url = snsUrl(m.SigningCertURL, 'SigningCertURL');
  if (!url.pathname.endsWith('.pem')) throw badPayload(`SNS SigningCertURL must name a .pem file: ${url.href}`);
  let key = certCache.get(url.href);
  if (!key) {
    if (certCache.size >= CERT_CACHE_MAX) certCache.delete(certCache.keys().next().value!);
    key = fetchCertificate(url);
    certCache.set(url.href, key);
    key.catch(() => certCache.delete(url.href));
  }
  return key.catch((err: unknown) => {
    throw new WebhookError(503, `cannot fetch the SNS signing certificate (${(err as Error).message}); SNS will retry, or configure it with EMAILSTATS_WEBHOOK_SES_CERT`);
  });
}

/** The public key of a configured certificate (PEM text). */
export function certificateKey(pem: string): KeyObject {
  return pem.includes('CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
}

/** Checks the signature; 401 when it does not match. */
export async function verifySnsMessage(m: SnsMessage, configured: KeyObject | undefined): Promise<void> {
  const algorithm = m.SignatureVersion === '1' ? 'sha1' : m.SignatureVersion === '2' ? 'sha256' : undefined;
  if (!algorithm) throw unauthorized(`SNS SignatureVersion '${m.SignatureVersion}' is not 1 or 2`);
  const key = await signingKey(m, configured);
  let ok = false;
  try {
    ok = verify(algorithm, Buffer.from(snsStringToSign(m), 'utf8'), key, Buffer.from(m.Signature, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw unauthorized('SNS message signature does not match its signing certificate');
}

/** Confirms a subscription: GET SubscribeURL (SNS hosts only). */
export async function confirmSubscription(m: SnsMessage): Promise<void> {
  const url = snsUrl(m.SubscribeURL ?? '', 'SubscribeURL');
  const res = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  if (!res.ok) throw new Error(`GET SubscribeURL answered ${res.status}`);
}
