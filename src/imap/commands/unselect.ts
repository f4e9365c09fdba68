/** UNSELECT (RFC 3691): leaves the selected state without expunging. */
import { expectArgCount } from './args.js';
import { SELECTED, ok, type CommandHandler } from './types.js';

export const unselect: CommandHandler = {
  states: SELECTED,
  async handle({ session, args }) {
    expectArgCount(args, 0);
    session.deselect();
    return ok('UNSELECT completed');
  },
};
