// `emailstats quarantine replay <datasource>`: re-ingests the rows in `<datasource>_quarantine` through the
// normal ingest path (after the datafile or the data was fixed) and removes the replayed rows from it.
import type { Command } from 'commander';
import { apiFetch, openApiSession } from '../local/api-session.js';
import { engineTarget, projectDir, withEngine, withProject, type EngineCliOptions } from './common.js';

interface ReplayResult {
  replayed: number;
  successful_rows: number;
  quarantined_rows: number;
  removed_from_quarantine: number;
  quarantine?: { line: number; error: string }[];
}

export function register(program: Command): void {
  const quarantine = program.command('quarantine').description('inspect and replay rows that could not be ingested');
  withEngine(withProject(quarantine.command('replay <datasource>')))
    .description('send the quarantined rows of a datasource through ingestion again and remove them from the quarantine')
    .action(async (datasource: string, opts: EngineCliOptions & { project?: string }) => {
      const session = await openApiSession(projectDir(undefined, opts), engineTarget(opts));
      let r: ReplayResult;
      try {
        const res = await apiFetch(session, `/v0/datasources/${encodeURIComponent(datasource)}/quarantine/replay`, { method: 'POST' });
        r = (await res.json()) as ReplayResult;
      } finally {
        await session.close();
      }
      if (r.replayed === 0) {
        process.stdout.write(`✓ ${datasource}_quarantine is empty: nothing to replay\n`);
        return;
      }
      process.stdout.write(
        `✓ replayed ${r.replayed} quarantined rows of ${datasource}: ${r.successful_rows} ingested, ${r.quarantined_rows} quarantined again; ` +
          `${r.removed_from_quarantine} replayed rows removed from ${datasource}_quarantine\n`,
      );
      for (const q of (r.quarantine ?? []).slice(0, 20)) process.stdout.write(`  row ${q.line}: ${q.error}\n`);
      if (r.quarantined_rows) process.stdout.write(`  the rows that still fail are in ${datasource}_quarantine: fix the datafile or the data, then replay again\n`);
    });
}
