import { atom, mailboxValue } from '../response.js';
import { expectArgCount, mailboxArg } from './args.js';
import { parseStatusItems, statusValues } from './status-common.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';

export const status: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 2);
    const name = mailboxArg(args[0]);
    const items = parseStatusItems(args[1]);
    if (items.includes('HIGHESTMODSEQ')) session.enableCondstore();
    const values = await statusValues(session.requireUser(), name, items);
    await session.untagged(atom('STATUS'), mailboxValue(name), values);
    return ok('STATUS completed');
  },
};
