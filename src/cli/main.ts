/** The medgate command: every subcommand, registered lazily (each loads what it runs). */
import { Command, CommanderError } from 'commander';
import { registerAuditCommands } from './audit-commands.js';
import { reportError } from './common.js';
import { registerDirectoryCommands } from './directory-commands.js';
import { registerMessageCommands } from './message-commands.js';
import { registerPkiCommands } from './pki-commands.js';
import { registerPatientsCommands } from './patients-commands.js';
import { registerRmpCommands } from './rmp-commands.js';
import { registerQueueCommands } from './queue-commands.js';
import { registerStoreCommands } from './store-commands.js';
import { registerServeCommands } from './serve-commands.js';
import { registerUserCommands } from './user-commands.js';
import { PROCESS_UMASK } from '../init/permissions.js';

// Before anything is created: the database, its WAL/SHM, blobs, spool and keys are owner-only
// whatever umask the operator (or a service manager) started medgate with.
process.umask(PROCESS_UMASK);

const program = new Command('medgate')
  .description('secure medical messaging gateway: end-to-end encrypted mail with a verified routing header')
  .version('0.1.0')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();

registerServeCommands(program);
registerPkiCommands(program);
registerDirectoryCommands(program);
registerUserCommands(program);
registerAuditCommands(program);
registerMessageCommands(program);
registerQueueCommands(program);
registerStoreCommands(program);
registerPatientsCommands(program);
registerRmpCommands(program);

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
