/** MOVE / UID MOVE (RFC 6851): COPYUID in an untagged OK, then EXPUNGE responses, then the tagged OK. */
import { parseSequenceSet } from '../parser/sequence-set.js';
import { tokenText } from '../parser/tokenizer.js';
import { atom } from '../response.js';
import { expectArgCount, mailboxArg } from './args.js';
import { copyUidCode, missingTarget } from './copy.js';
import { SELECTED, no, ok, type CommandHandler } from './types.js';

export const move: CommandHandler = {
  states: SELECTED,
  async handle({ session, args, uid }) {
    expectArgCount(args, 2);
    const set = parseSequenceSet(tokenText(args[0]));
    const target = mailboxArg(args[1]);
    const view = session.requireSelected();
    if (view.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
    const messages = view.resolve(set, uid);
    if (messages.length === 0) return ok('MOVE completed, nothing to move');
    let result;
    try {
      result = await session.requireUser().move(view.name, messages.map((m) => m.uid), target);
    } catch (err) {
      const failure = missingTarget(err);
      if (failure) return failure;
      throw err;
    }
    const code = copyUidCode(result);
    if (code) await session.untagged(atom('OK'), atom(`[${code}]`), atom('Moved'));
    for (const response of view.remove(result.mapping.map(([src]) => src))) await session.write(response);
    return ok('MOVE completed');
  },
};
