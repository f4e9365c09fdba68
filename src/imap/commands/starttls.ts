import { expectArgCount } from './args.js';
import { NOT_AUTHENTICATED, ok, type CommandHandler } from './types.js';

export const starttls: CommandHandler = {
  states: NOT_AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 0);
    if (session.secure) return { status: 'BAD', text: 'Connection is already protected by TLS' };
    session.prepareStartTls();
    return { ...ok('Begin TLS negotiation now'), after: () => session.upgradeToTls() };
  },
};
