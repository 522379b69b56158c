// `emailstats build [DIR]`: builds the whole project into a throw-away engine, loads fixtures and has the
// engine analyse every node. Exit status 0 when everything builds, 1 otherwise.
import type { Command } from 'commander';
import { buildEphemeral } from '../local/ephemeral.js';
import { hasErrors, loadProject } from '../project/model.js';
import { countErrors, engineTarget, printDiagnostics, projectDir, withEngine, withProject, type EngineCliOptions } from './common.js';
import { printChanges } from './output.js';

export function register(program: Command): void {
  withEngine(withProject(program.command('build [dir]')))
    .description('build the project into a fresh throw-away engine, load fixtures and validate every node')
    .action(async (dir: string | undefined, opts: EngineCliOptions & { project?: string }) => {
      const root = projectDir(dir, opts);
      const started = performance.now();
      const project = await loadProject(root);
      printDiagnostics(project.diagnostics, project);
      if (hasErrors(project.diagnostics)) {
        process.stderr.write(`✗ Build failed: ${countErrors(project.diagnostics)} error(s) in datafiles\n`);
        process.exitCode = 1;
        return;
      }
      // A throw-away target: a temporary data directory, or a temporary database on the server.
      const { engine, report, dispose } = await buildEphemeral(project, engineTarget(opts), 'build');
      try {
        printChanges(report.changes, process.stdout);
        for (const f of report.fixtures) process.stdout.write(`✓ ${f.file} loaded into ${f.datasource} (${f.rows} rows)\n`);
        printDiagnostics([...report.warnings, ...report.diagnostics], project);
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        if (report.diagnostics.length) {
          process.stderr.write(`✗ Build failed: ${report.diagnostics.length} error(s) (${seconds}s, ${engine.description}, ClickHouse ${engine.version.text})\n`);
          process.exitCode = 1;
        } else if (report.unchecked.length) {
          // A build is a check (CI runs it): nodes the engine could not finish checking make it incomplete, not passed.
          process.stderr.write(`✗ Build incomplete: ${report.unchecked.length} node(s) could not be checked, the engine failed (see above); run it again (${seconds}s)\n`);
          process.exitCode = 1;
        } else {
          process.stdout.write(`✓ Build completed in ${seconds}s: ${project.datasources.size} datasources, ${project.pipes.size} pipes (ClickHouse ${engine.version.text})\n`);
        }
      } finally {
        await dispose();
      }
    });
}
