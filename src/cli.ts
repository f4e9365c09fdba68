#!/usr/bin/env -S node --single-threaded-gc --incremental-marking-soft-trigger=80 --incremental-marking-hard-trigger=95 --heap-growing-percent=300
import { Command, CommanderError } from 'commander';
import { registerAuditCommands } from './cli/audit-commands.js';
import { reportError } from './cli/common.js';
import { registerDirectoryCommands } from './cli/directory-commands.js';
import { registerMessageCommands } from './cli/message-commands.js';
import { registerPkiCommands } from './cli/pki-commands.js';
import { registerPatientsCommands } from './cli/patients-commands.js';
import { registerRmpCommands } from './cli/rmp-commands.js';
import { registerQueueCommands } from './cli/queue-commands.js';
import { registerStoreCommands } from './cli/store-commands.js';
import { registerServeCommands } from './cli/serve-commands.js';
import { registerUserCommands } from './cli/user-commands.js';
import { PROCESS_UMASK } from './init/permissions.js';

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
