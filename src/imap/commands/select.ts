/** SELECT and EXAMINE (RFC 3501 §6.3.1-2). */
import { ImapParseError } from '../errors.js';
import { MailboxView } from '../mailbox-view.js';
import { tokenList, tokenText } from '../parser/tokenizer.js';
import { atom } from '../response.js';
import { expectArgCount, mailboxArg } from './args.js';
import { AUTHENTICATED, ok, type CommandContext, type CommandHandler, type CommandResult } from './types.js';

async function open({ session, args }: CommandContext, readOnly: boolean): Promise<CommandResult> {
  expectArgCount(args, 1, 2);
  const name = mailboxArg(args[0]);
  const params = args[1] ? tokenList(args[1]).map((item) => tokenText(item).toUpperCase()) : [];
  if (params.some((param) => param !== 'CONDSTORE')) throw new ImapParseError('Unknown SELECT parameter');
  if (params.includes('CONDSTORE')) session.enableCondstore();
  const hadSelection = session.selected !== null;
  // A failed SELECT leaves no mailbox selected (RFC 3501 §6.3.1).
  session.deselect();
  if (hadSelection) await session.untagged(atom('OK'), atom('[CLOSED]'), atom('Previous mailbox is now closed'));
  const pending = session.beginSelect(name, !readOnly);
  let snapshot;
  try {
    snapshot = await session.requireUser().openMailbox(name, { claimRecent: !readOnly });
  } catch (err) {
    pending.cancel();
    throw err;
  }
  const view = new MailboxView(snapshot, readOnly);
  // Changes seen since the watch began are queued now and reported at the end of this command.
  pending.complete(view);
  for (const response of view.flagsResponses()) await session.write(response);
  await session.untagged(view.exists, atom('EXISTS'));
  await session.untagged(view.recentCount, atom('RECENT'));
  const firstUnseen = snapshot.messages.findIndex((m) => !m.flags.includes('\\Seen'));
  if (firstUnseen >= 0) await session.untagged(atom('OK'), atom(`[UNSEEN ${firstUnseen + 1}]`), atom('First unseen'));
  await session.untagged(atom('OK'), atom(`[UIDVALIDITY ${view.uidValidity}]`), atom('UIDs valid'));
  await session.untagged(atom('OK'), atom(`[UIDNEXT ${view.uidNext}]`), atom('Predicted next UID'));
  if (session.user?.supportsModseq) await session.untagged(atom('OK'), atom(`[HIGHESTMODSEQ ${view.highestModseq}]`), atom('Highest'));
  return ok(`${readOnly ? 'EXAMINE' : 'SELECT'} completed`, view.readOnly ? 'READ-ONLY' : 'READ-WRITE');
}

export const select: CommandHandler = { states: AUTHENTICATED, handle: (ctx) => open(ctx, false) };
export const examine: CommandHandler = { states: AUTHENTICATED, handle: (ctx) => open(ctx, true) };
