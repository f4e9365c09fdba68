import { expectArgCount, mailboxArg, validateNewMailboxName } from './args.js';
import { AUTHENTICATED, no, ok, type CommandHandler } from './types.js';

export const create: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 1, 2);
    const name = mailboxArg(args[0]);
    if (name === 'INBOX') return no('INBOX already exists', 'ALREADYEXISTS');
    const invalid = validateNewMailboxName(name);
    if (invalid) return no(invalid, 'CANNOT');
    await session.requireUser().createMailbox(name);
    return ok('CREATE completed');
  },
};
