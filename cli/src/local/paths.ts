// Where a project's runtime state lives: `<project>/.emailstats/` (git-ignored).
import { createHash } from 'node:crypto';
import path from 'node:path';

export interface LocalPaths {
  root: string;
  stateDir: string;
  dataDir: string;
  walDir: string;
  tokensFile: string;
  /** Digests of the tokens created through /v0/tokens. */
  apiTokensFile: string;
  serverFile: string;
  resourceStateFile: string;
}

export function localPaths(projectDir: string): LocalPaths {
  const root = path.resolve(projectDir);
  const stateDir = path.join(root, '.emailstats');
  return {
    root,
    stateDir,
    dataDir: path.join(stateDir, 'data'),
    walDir: path.join(stateDir, 'wal'),
    tokensFile: path.join(stateDir, 'tokens.json'),
    apiTokensFile: path.join(stateDir, 'api-tokens.json'),
    serverFile: path.join(stateDir, 'server.json'),
    resourceStateFile: path.join(stateDir, 'resources.json'),
  };
}

/**
 * The write-ahead log for events bound for `engine`: the embedded engine's is `.emailstats/wal`; each ClickHouse
 * server database has its own folder, so events accepted for one target are never replayed into another (a
 * command pointed at production after dev, or dev after a command pointed at production).
 */
export function walDirFor(paths: LocalPaths, engine: { kind: 'embedded' | 'server'; database: string }, url?: string): string {
  if (engine.kind === 'embedded' || !url) return paths.walDir;
  const target = `${new URL(url).host}/${engine.database}`;
  return path.join(paths.stateDir, `wal-${createHash('sha256').update(target).digest('hex').slice(0, 12)}`);
}
