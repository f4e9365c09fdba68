import { tokenText } from '../parser/tokenizer.js';
import { atom, mailboxValue } from '../response.js';
import { HIERARCHY_DELIMITER } from '../mailbox-name.js';
import { decodeMailboxName } from '../utf7.js';
import { expectArgCount } from './args.js';
import { lsubEntries } from './list-common.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';

export const lsub: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 2);
    const reference = decodeMailboxName(tokenText(args[0]));
    const pattern = decodeMailboxName(tokenText(args[1]));
    const entries = lsubEntries(await session.requireUser().listMailboxes(), reference, pattern);
    for (const entry of entries) await session.untagged(atom('LSUB'), entry.attributes.map(atom), HIERARCHY_DELIMITER, mailboxValue(entry.name));
    return ok('LSUB completed');
  },
};
