import { expectArgCount } from './args.js';
import { ANY_STATE, ok, type CommandHandler } from './types.js';

export const logout: CommandHandler = {
  states: ANY_STATE,
  async handle({ session, args }) {
    expectArgCount(args, 0);
    await session.write(Buffer.from('* BYE Logging out\r\n'));
    return { ...ok('LOGOUT completed'), allowUpdates: false, after: async () => session.close() };
  },
};
