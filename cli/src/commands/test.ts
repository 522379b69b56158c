// `emailstats test run | update | create`: endpoint tests as code (compat reference §7.5). Each builds the
// project into a throw-away engine with its fixtures and calls the pipes through the real HTTP API.
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { buildEphemeral, serveEphemeral } from '../local/ephemeral.js';
import { findPipe, type Project } from '../project/model.js';
import type { PipeFile } from '../datafile/types.js';
import type { ApiTarget } from '../testing/runner.js';
import { findTestFiles, testFileFor, type TestFile } from '../testing/files.js';
import { createFile, runSuite, updateFile } from '../testing/suite.js';
import { TestFileError } from '../testing/yaml.js';
import { UserError } from '../util/fatal.js';
import { engineTarget, loadCleanProject, printDiagnostics, projectDir, withEngine, withProject, type EngineCliOptions } from './common.js';

type Opts = EngineCliOptions & { project?: string };

const write = (text: string): void => void process.stdout.write(text);

const loadTestedProject = (opts: Opts): Promise<Project> => loadCleanProject(projectDir(undefined, opts), 'no test was run');

/** Builds the project into a throw-away engine, serves it, runs `fn`, and tears everything down. */
async function withTestWorkspace<T>(project: Project, opts: Opts, fn: (api: ApiTarget) => Promise<T>): Promise<T> {
  const built = await buildEphemeral(project, engineTarget(opts), 'test');
  try {
    if (built.report.diagnostics.length) {
      printDiagnostics(built.report.diagnostics, project);
      throw new UserError(`the project does not build (${built.report.diagnostics.length} error(s) above); run \`emailstats build\` to see them alone`);
    }
    const api = await serveEphemeral(project, built.engine, built.report);
    try {
      return await fn(api);
    } finally {
      await api.close();
    }
  } finally {
    await built.dispose();
  }
}

function requirePipe(project: Project, name: string): PipeFile {
  const pipe = findPipe(project, name);
  if (!pipe) throw new UserError(`pipe '${name}' not found in ${project.root}; pipes: ${[...project.pipes.keys()].join(', ') || '(none)'}`);
  return pipe;
}

function asUserError(err: unknown): never {
  if (err instanceof TestFileError) throw new UserError(`${err.message}\n  fix the file, or recreate it with \`emailstats test create <pipe> --force\``);
  throw err;
}

export function register(program: Command): void {
  const test = program.command('test').description('run, update and create endpoint tests (tests/<pipe>.yaml)');

  withEngine(withProject(test.command('run [names...]')))
    .description('build into a throw-away engine with fixtures and run tests/<name>.yaml, or every tests/**/*.y*ml')
    .action(async (names: string[], opts: Opts) => {
      const started = performance.now();
      const project = await loadTestedProject(opts);
      const files = findTestFiles(project.root, names);
      if (!files.length) {
        write(`✓ No tests to run (no YAML files under ${project.root}/tests; write one with \`emailstats test create <pipe>\`)\n`);
        return;
      }
      const summary = await withTestWorkspace(project, opts, (api) => runSuite(api, project, files, write));
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      if (summary.skipped) write(`${summary.skipped} not run after a failure in the same file (${seconds}s)\n`);
      else write(`(${files.length} file(s), ${seconds}s)\n`);
      write(`${summary.passed} passed, ${summary.failed} failed\n`);
      if (summary.failed) process.exitCode = 1;
    });

  withEngine(withProject(test.command('update <pipe>')))
    .description("rewrite the pipe's test expectations (and HTTP statuses) from what it answers now")
    .action(async (name: string, opts: Opts) => {
      const project = await loadTestedProject(opts);
      const pipe = requirePipe(project, name);
      const file = testFileFor(project.root, pipe.name);
      if (!existsSync(file.path)) throw new UserError(`${file.rel} does not exist; write a starting file with \`emailstats test create ${pipe.name}\``);
      const changed = await withTestWorkspace(project, opts, (api) => updateFile(api, pipe, file, write)).catch(asUserError);
      write(`✓ ${file.rel} updated: ${changed.length} case(s) changed${changed.length ? ` (${changed.join(', ')})` : ''}; review the diff before committing\n`);
    });

  withEngine(withProject(test.command('create <pipe>')))
    .description('write tests/<pipe>.yaml: the defaults, each parameter alone, a bad value for each typed parameter; expectations from current answers')
    .option('--force', 'overwrite an existing test file')
    .action(async (name: string, opts: Opts & { force?: boolean }) => {
      const project = await loadTestedProject(opts);
      const pipe = requirePipe(project, name);
      const file: TestFile = testFileFor(project.root, pipe.name);
      if (existsSync(file.path) && !opts.force) {
        throw new UserError(`${file.rel} already exists; pass --force to overwrite it, or \`emailstats test update ${pipe.name}\` to refresh its expectations`);
      }
      const cases = await withTestWorkspace(project, opts, (api) => createFile(api, project, pipe, file, write));
      write(`✓ ${file.rel} written with ${cases.length} case(s); read the expectations before committing: they are what the pipe answers today\n`);
    });
}
