// Real keys and signatures for the provider webhooks, made the way each provider makes them: an ECDSA P-256
// key (SendGrid), HMAC secrets (Mailgun, Resend/Svix), an RSA key with a self-signed X.509 certificate (SNS,
// made by openssl).
import { createHmac, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { snsStringToSign, type SnsMessage } from '../../cli/src/webhooks/sns.js';

export function sendgridKeys(): { publicKeyBase64: string; sign(timestamp: string, body: string): string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    // As SendGrid shows it: the base64 of the DER SubjectPublicKeyInfo.
    publicKeyBase64: publicKey.export({ format: 'der', type: 'spki' }).toString('base64'),
    sign: (timestamp, body) => sign('sha256', Buffer.from(timestamp + body), { key: privateKey, dsaEncoding: 'der' }).toString('base64'),
  };
}

export function mailgunSignature(key: string, timestamp = String(Math.floor(Date.now() / 1000))): { timestamp: string; token: string; signature: string } {
  const token = randomBytes(25).toString('hex');
  return { timestamp, token, signature: createHmac('sha256', key).update(timestamp + token).digest('hex') };
}

export function svixSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

export function svixHeaders(secret: string, id: string, body: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const sig = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'svix-id': id, 'svix-timestamp': String(timestamp), 'svix-signature': `v1,${sig}` };
}

/** An RSA key and a self-signed certificate for it, as PEM (openssl). */
export function snsCertificate(): { certPem: string; keyPem: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'emailstats-sns-cert-'));
  try {
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=sns.us-east-1.amazonaws.com'], { stdio: 'pipe' });
    return { certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type UnsignedSns = Omit<SnsMessage, 'Signature' | 'SignatureVersion' | 'SigningCertURL'>;

/** The SNS envelope, signed with SignatureVersion 2 (SHA256withRSA) by `keyPem`. */
export function signedSns(keyPem: string, message: UnsignedSns, version: '1' | '2' = '2'): SnsMessage {
  const full: SnsMessage = { ...message, SignatureVersion: version, Signature: '', SigningCertURL: 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem' };
  full.Signature = sign(version === '1' ? 'sha1' : 'sha256', Buffer.from(snsStringToSign(full)), keyPem).toString('base64');
  return full;
}
