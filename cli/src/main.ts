// The `emailstats` command line: wires commands to the library modules. No business logic lives here.
import { Command } from 'commander';
import { registerCommands } from './commands/index.js';
import { reportFatal } from './util/fatal.js';

const program = new Command();
program
  .name('emailstats')
  .description('Tinybird-compatible datafiles and endpoints on ClickHouse, embedded or on a server')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

registerCommands(program);

program.parseAsync(process.argv).catch(reportFatal);
