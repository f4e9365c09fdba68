/** EXPUNGE and UID EXPUNGE (RFC 4315): only messages flagged \Deleted (and in the UID set) go. */
import { ImapParseError } from '../errors.js';
import { parseSequenceSet } from '../parser/sequence-set.js';
import { tokenText } from '../parser/tokenizer.js';
import { SELECTED, no, ok, type CommandHandler } from './types.js';

export const expunge: CommandHandler = {
  states: SELECTED,
  async handle({ session, args, uid }) {
    if (args.length !== (uid ? 1 : 0)) throw new ImapParseError(uid ? 'UID EXPUNGE takes a UID set' : 'EXPUNGE takes no arguments');
    const view = session.requireSelected();
    if (view.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
    const restrict = uid ? view.resolve(parseSequenceSet(tokenText(args[0])), true).map((m) => m.uid) : undefined;
    if (restrict && restrict.length === 0) return ok('EXPUNGE completed');
    const removed = await session.requireUser().expunge(view.name, restrict);
    for (const response of view.remove(removed)) await session.write(response);
    return ok('EXPUNGE completed');
  },
};
