/** The medgate command: the command tree (./program.ts), run on this process's arguments. */
import { CommanderError } from 'commander';
import { reportError } from './common.js';
import { buildProgram } from './program.js';
import { PROCESS_UMASK } from '../init/permissions.js';

// Before anything is created: the database, its WAL/SHM, blobs, spool and keys are owner-only
// whatever umask the operator (or a service manager) started medgate with.
process.umask(PROCESS_UMASK);

const program = buildProgram();

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version are not errors; usage mistakes exit 2 as usual for CLIs.
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    reportError(err);
  }
}
