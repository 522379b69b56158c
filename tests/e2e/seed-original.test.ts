// The seed's own files (examples/seed, verbatim from the original project) run on emailstats unchanged:
// they check clean, render valid SQL, and build on the embedded engine.
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { REPO, runCli } from '../helpers/cli.js';

const SEED = path.join(REPO, 'examples/seed');

describe('the seed project, unchanged', () => {
  it('checks clean', async () => {
    const r = await runCli(['check', SEED]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('2 datafiles');
  });

  it('renders campaign_stats for camp_8', async () => {
    const r = await runCli(['render', 'campaign_stats', '--project', SEED, '--param', 'campaign_id=camp_8']);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain("AND campaign_id = 'camp_8'");
    expect(r.stdout).not.toContain('{{');
    expect(r.stdout).not.toContain('{%');
  });

  it('builds: the engine analyses the rendered SQL of every node', async () => {
    const r = await runCli(['build', SEED]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toContain('Build completed');
  });
});
