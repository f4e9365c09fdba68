import { atom } from '../response.js';
import { ANY_STATE, ok, type CommandHandler } from './types.js';
import { expectArgCount } from './args.js';

export const capability: CommandHandler = {
  states: ANY_STATE,
  async handle({ session, args }) {
    expectArgCount(args, 0);
    await session.untagged(atom('CAPABILITY'), ...session.capabilities().map(atom));
    return ok('CAPABILITY completed');
  },
};
