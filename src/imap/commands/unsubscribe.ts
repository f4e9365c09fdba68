import { expectArgCount, mailboxArg } from './args.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';

export const unsubscribe: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 1);
    await session.requireUser().setSubscribed(mailboxArg(args[0]), false);
    return ok('UNSUBSCRIBE completed');
  },
};
