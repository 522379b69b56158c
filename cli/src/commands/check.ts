// `emailstats check [dir]`: parse every datafile of a project and print all problems, no engine needed.
import type { Command } from 'commander';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { formatDiagnostic } from '../datafile/index.js';
import { loadProject } from '../project/model.js';
import { UserError } from '../util/fatal.js';

export function register(program: Command): void {
  program
    .command('check')
    .description('validate the datafiles of a project (syntax, schema, engine, nodes) without running anything')
    .argument('[dir]', 'project folder')
    .option('--project <dir>', 'project folder (default: current directory)')
    .action(async (dir: string | undefined, opts: { project?: string }) => {
      const root = path.resolve(dir ?? opts.project ?? process.cwd());
      const st = await stat(root).catch(() => undefined);
      if (!st?.isDirectory()) throw new UserError(`not a folder: ${root}`);
      // The whole project: each file's syntax, plus what spans files (names, reference cycles, templates).
      const loaded = await loadProject(root);
      const out: string[] = [];
      for (const d of loaded.diagnostics) out.push(formatDiagnostic(d, loaded.sources.get(d.file)), '');
      const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
      const warnings = loaded.diagnostics.length - errors.length;
      const w = warnings ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : '';
      if (![...loaded.sources.keys()].some((p) => /\.(datasource|pipe)$/.test(p))) throw new UserError(noDatafilesMessage(root));
      if (errors.length === 0) out.push(`✓ ${loaded.sources.size} datafiles, no errors${w}`);
      else {
        const files = new Set(errors.map((d) => d.file)).size;
        out.push(`✗ ${errors.length} error${errors.length === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}${w}`);
        process.exitCode = 1;
      }
      process.stdout.write(out.join('\n') + '\n');
    });
}

/** An empty or wrong folder is an error: `✓ 0 datafiles` would pass a CI job that checks nothing. */
function noDatafilesMessage(root: string): string {
  return (
    `no datasources or pipes found under ${root}. A project folder holds datasources/*.datasource and pipes/*.pipe ` +
    '(also endpoints/, materializations/, copies/, sinks/, playgrounds/ for pipes, or both kinds at the top of the folder); ' +
    'pass that folder: emailstats check <dir> or --project <dir>'
  );
}
