import { expectArgCount, mailboxArg, validateNewMailboxName } from './args.js';
import { AUTHENTICATED, no, ok, type CommandHandler } from './types.js';

export const rename: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 2);
    const from = mailboxArg(args[0]);
    const to = mailboxArg(args[1]);
    const invalid = validateNewMailboxName(to);
    if (invalid) return no(invalid, 'CANNOT');
    await session.requireUser().renameMailbox(from, to);
    return ok('RENAME completed');
  },
};
