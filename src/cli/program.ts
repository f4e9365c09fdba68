/** The medgate command tree: every subcommand, registered lazily (each loads what it runs). */
import { Command } from 'commander';
import { registerAuditCommands } from './audit-commands.js';
import { registerDirectoryCommands } from './directory-commands.js';
import { registerMessageCommands } from './message-commands.js';
import { registerPkiCommands } from './pki-commands.js';
import { registerPatientsCommands } from './patients-commands.js';
import { registerRmpCommands } from './rmp-commands.js';
import { registerQueueCommands } from './queue-commands.js';
import { registerStoreCommands } from './store-commands.js';
import { registerServeCommands } from './serve-commands.js';
import { registerUserCommands } from './user-commands.js';

export function buildProgram(): Command {
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
  return program;
}
