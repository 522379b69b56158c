// Where a project's runtime state lives: `<project>/.emailstats/` (git-ignored).
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
