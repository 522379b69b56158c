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

// `emailstats params p | head` closes stdout early: that is the reader being done, not an error to report. The
// rest of the output is dropped and the command ends with its own exit status (a failed check still fails).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') return;
    throw err;
  });
}

program.parseAsync(process.argv).catch(reportFatal);
