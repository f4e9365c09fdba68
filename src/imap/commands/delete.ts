import { expectArgCount, mailboxArg } from './args.js';
import { AUTHENTICATED, no, ok, type CommandHandler } from './types.js';

export const deleteMailbox: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 1);
    const name = mailboxArg(args[0]);
    if (name === 'INBOX') return no('INBOX cannot be deleted', 'CANNOT');
    if (session.selected?.name === name) session.deselect();
    await session.requireUser().deleteMailbox(name);
    return ok('DELETE completed');
  },
};
