// Static tokens created through the Token API (`/v0/tokens`). Only the SHA-256 digest of each secret is
// kept, in memory and in the registry file, so the file leaks nothing usable; the secret is shown once, when
// the token is created or refreshed. The file survives restarts (`dev`: .emailstats/api-tokens.json).
import { readFileSync } from 'node:fs';
import { writeJsonAtomic } from '../util/files.js';
import { digest, newTokenSecret, parseScope, scopeLabel, type DigestLookup, type Scope, type TokenRecord } from './auth.js';
import { tokenNameProblem } from './token-name.js';

export interface StoredApiToken {
  name: string;
  /** hex SHA-256 of the secret */
  digest: string;
  /** Reference scope strings, e.g. PIPES:READ:campaign_stats. */
  scopes: string[];
  rps?: number;
  created_at: string;
  refreshed_at?: string;
}

export class ApiTokenRegistry implements DigestLookup {
  private tokens: StoredApiToken[] = [];
  private byDigest = new Map<string, { digest: Buffer; record: TokenRecord }>();

  /** @param file where digests are persisted; absent = in memory only. */
  constructor(private readonly file?: string) {
    if (file) {
      try {
        this.tokens = (JSON.parse(readFileSync(file, 'utf8')) as { tokens: StoredApiToken[] }).tokens ?? [];
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the token registry ${file}: ${(err as Error).message}; fix or delete it`);
      }
    }
    this.reindex();
  }

  list(): StoredApiToken[] {
    return this.tokens.map((t) => ({ ...t, scopes: [...t.scopes] }));
  }

  get(name: string): StoredApiToken | undefined {
    return this.tokens.find((t) => t.name === name);
  }

  findByDigest(hex: string): { digest: Buffer; record: TokenRecord } | undefined {
    return this.byDigest.get(hex);
  }

  /** Creates a token and returns its secret (the only time it is visible). */
  create(name: string, scopes: Scope[], rps?: number): string {
    const problem = tokenNameProblem(name);
    if (problem) throw new Error(problem); // the route checks first, with a 400; this guards other callers
    const secret = newTokenSecret();
    this.tokens.push({ name, digest: digest(secret).toString('hex'), scopes: scopes.map(scopeLabel), rps, created_at: new Date().toISOString() });
    this.save();
    return secret;
  }

  remove(name: string): boolean {
    const before = this.tokens.length;
    this.tokens = this.tokens.filter((t) => t.name !== name);
    if (this.tokens.length === before) return false;
    this.save();
    return true;
  }

  /** A new secret for the same name and scopes; the old secret stops working at once. */
  refresh(name: string): string | undefined {
    const t = this.get(name);
    if (!t) return undefined;
    const secret = newTokenSecret();
    t.digest = digest(secret).toString('hex');
    t.refreshed_at = new Date().toISOString();
    this.save();
    return secret;
  }

  private reindex(): void {
    this.byDigest = new Map(
      this.tokens.map((t) => [t.digest, { digest: Buffer.from(t.digest, 'hex'), record: { name: t.name, scopes: t.scopes.map(parseScope), rps: t.rps, origin: 'api' as const } }]),
    );
  }

  private save(): void {
    this.reindex();
    if (this.file) writeJsonAtomic(this.file, { tokens: this.tokens }, 0o600);
  }
}
