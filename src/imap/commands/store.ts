/** STORE / UID STORE: [+|-]FLAGS[.SILENT]. The new flags come back from the backend, so concurrent changes are reflected. */
import { ImapParseError } from '../errors.js';
import type { FlagOperation } from '../backend.js';
import { formatSequence, parseSequenceSet } from '../parser/sequence-set.js';
import { tokenList, tokenText, type Token } from '../parser/tokenizer.js';
import { visibleFlags } from '../mailbox-view.js';
import { atom, type ImapValue } from '../response.js';
import { flagListArg } from './args.js';
import { SELECTED, no, ok, type CommandHandler } from './types.js';

const ACTION = /^([+-]?)FLAGS(\.SILENT)?$/;

function parseUnchangedSince(token: Token): number {
  const items = tokenList(token);
  if (items.length !== 2 || tokenText(items[0]).toUpperCase() !== 'UNCHANGEDSINCE') throw new ImapParseError('Unknown STORE modifier');
  const value = tokenText(items[1]);
  if (!/^\d{1,19}$/.test(value)) throw new ImapParseError('Invalid mod-sequence');
  return Number(value);
}

export const store: CommandHandler = {
  states: SELECTED,
  async handle({ session, args: givenArgs, uid }) {
    let args = givenArgs;
    if (args.length < 3) throw new ImapParseError('STORE takes a sequence set, an action and flags');
    const set = parseSequenceSet(tokenText(args[0]));
    let unchangedSince: number | undefined;
    if (args[1]?.type === 'list') {
      unchangedSince = parseUnchangedSince(args[1]);
      if (!session.enableCondstore()) throw new ImapParseError('CONDSTORE is not supported');
      args = [args[0] as Token, ...args.slice(2)];
      if (args.length < 3) throw new ImapParseError('STORE takes a sequence set, an action and flags');
    }
    const action = ACTION.exec(tokenText(args[1]).toUpperCase());
    if (!action) throw new ImapParseError('Unknown STORE action');
    const flagToken = args.length === 3 ? args[2] : { type: 'list' as const, items: args.slice(2) };
    const flags = flagListArg(flagToken).filter((flag) => flag !== '\\Recent');
    const op: FlagOperation = action[1] === '+' ? 'add' : action[1] === '-' ? 'remove' : 'replace';
    const silent = Boolean(action[2]);
    const view = session.requireSelected();
    if (view.readOnly) return { ...no('Mailbox is read-only', 'READ-ONLY'), allowExpunge: uid };
    const messages = view.resolve(set, uid);
    if (messages.length === 0) return { ...ok('STORE completed'), allowExpunge: uid };
    const options = unchangedSince === undefined ? {} : { unchangedSince };
    const updates = await session.requireUser().setFlags(view.name, messages.map((m) => m.uid), op, flags, options);
    for (const response of view.announceKeywords(updates.flatMap((u) => u.flags))) await session.write(response);
    for (const update of updates) {
      const before = view.get(update.uid)?.modseq;
      view.setFlags(update.uid, update.flags, update.modseq);
      const state = view.get(update.uid);
      // With CONDSTORE, .SILENT still reports messages whose modseq changed (RFC 7162 §3.1.3).
      if (silent && !(session.condstore && update.modseq !== before)) continue;
      const seq = view.seqOf(update.uid);
      const flags = (state ? visibleFlags(state) : update.flags).map(atom);
      const items: ImapValue[] = uid ? [atom('UID'), update.uid, atom('FLAGS'), flags] : [atom('FLAGS'), flags];
      if (session.condstore && update.modseq !== undefined) items.push(atom('MODSEQ'), [update.modseq]);
      if (seq) await session.untagged(seq, atom('FETCH'), items);
    }
    if (unchangedSince !== undefined) {
      // Messages the backend skipped were modified after UNCHANGEDSINCE (RFC 7162 §3.1.3).
      const applied = new Set(updates.map((u) => u.uid));
      const modified = messages.filter((m) => !applied.has(m.uid) && view.seqOf(m.uid)).map((m) => (uid ? m.uid : view.seqOf(m.uid)));
      if (modified.length > 0) return { ...ok('Conditional STORE failed for some messages', `MODIFIED ${formatSequence(modified)}`), allowExpunge: uid };
    }
    return { ...ok('STORE completed'), allowExpunge: uid };
  },
};
