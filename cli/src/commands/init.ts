// `emailstats init [dir]`: creates a minimal working project (one datasource, one endpoint, a fixture, a test).
import type { Command } from 'commander';
import path from 'node:path';
import { createProject, SCAFFOLD_ENDPOINT } from '../project/scaffold.js';
import { projectDir, withProject } from './common.js';

export function register(program: Command): void {
  withProject(program.command('init [dir]'))
    .description('create a minimal project (datasource, endpoint, fixture, test) in DIR or the current folder; never overwrites files')
    .action((dir: string | undefined, opts: { project?: string }) => {
      const result = createProject(projectDir(dir, opts));
      const shown = path.relative(process.cwd(), result.root);
      const out: string[] = [`✓ created a project in ${shown || '.'}`];
      for (const f of result.created) out.push(`  ${f}`);
      if (result.gitignore !== 'unchanged') out.push(`  .gitignore (${result.gitignore === 'created' ? 'created' : 'added .emailstats/'})`);
      out.push('', 'Next steps:');
      if (shown) out.push(`  cd ${shown}`);
      out.push(
        '  npx emailstats check      # validate the datafiles',
        `  npx emailstats test run   # build with the fixtures and run tests/${SCAFFOLD_ENDPOINT}.yaml`,
        `  npx emailstats dev        # serve the API; it prints the URL of ${SCAFFOLD_ENDPOINT} with a token`,
      );
      process.stdout.write(out.join('\n') + '\n');
    });
}
