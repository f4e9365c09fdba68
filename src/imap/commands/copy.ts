/** COPY / UID COPY with COPYUID (RFC 4315). */
import { ImapError, ImapErrorCode } from '../errors.js';
import { formatSequence, parseSequenceSet } from '../parser/sequence-set.js';
import { tokenText } from '../parser/tokenizer.js';
import { expectArgCount, mailboxArg } from './args.js';
import { SELECTED, no, ok, type CommandHandler, type CommandResult } from './types.js';
import type { CopyResult } from '../backend.js';

export function copyUidCode(result: CopyResult): string | undefined {
  if (result.mapping.length === 0) return undefined;
  return `COPYUID ${result.uidValidity} ${formatSequence(result.mapping.map(([src]) => src))} ${formatSequence(result.mapping.map(([, dst]) => dst))}`;
}

export function missingTarget(err: unknown): CommandResult | null {
  if (err instanceof ImapError && err.code === ImapErrorCode.NO_SUCH_MAILBOX) return no('Target mailbox does not exist', 'TRYCREATE');
  return null;
}

export const copy: CommandHandler = {
  states: SELECTED,
  async handle({ session, args, uid }) {
    expectArgCount(args, 2);
    const set = parseSequenceSet(tokenText(args[0]));
    const target = mailboxArg(args[1]);
    const view = session.requireSelected();
    const messages = view.resolve(set, uid);
    if (messages.length === 0) return ok('COPY completed, nothing to copy');
    try {
      const result = await session.requireUser().copy(view.name, messages.map((m) => m.uid), target);
      return ok('COPY completed', copyUidCode(result));
    } catch (err) {
      const result = missingTarget(err);
      if (result) return result;
      throw err;
    }
  },
};
