/** STATUS data items, shared by STATUS and LIST ... RETURN (STATUS (...)) (RFC 5819). */
import type { ImapUserSession } from '../backend.js';
import { ImapParseError } from '../errors.js';
import { atom, type ImapValue } from '../response.js';
import { tokenText, type Token } from '../parser/tokenizer.js';

const ITEMS = ['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'SIZE', 'DELETED', 'HIGHESTMODSEQ'] as const;
export type StatusItem = (typeof ITEMS)[number];

export function parseStatusItems(token: Token | undefined): StatusItem[] {
  if (!token || token.type !== 'list' || token.items.length === 0) throw new ImapParseError('Expected a list of status items');
  return token.items.map((item) => {
    const name = tokenText(item).toUpperCase();
    if (!(ITEMS as readonly string[]).includes(name)) throw new ImapParseError('Unknown status item');
    return name as StatusItem;
  });
}

export async function statusValues(user: ImapUserSession, mailbox: string, items: StatusItem[]): Promise<ImapValue[]> {
  if (items.includes('HIGHESTMODSEQ') && !user.supportsModseq) throw new ImapParseError('HIGHESTMODSEQ is not supported');
  // Only SIZE needs each message's opened size: the rest comes from the stored rows (a mail client
  // polls STATUS on every folder; a 10 000-message INBOX must not cost 10 000 lookups each time).
  if (user.mailboxCounts && !items.includes('SIZE')) {
    const c = await user.mailboxCounts(mailbox);
    const count: Record<Exclude<StatusItem, 'SIZE'>, number> = {
      MESSAGES: c.messages, RECENT: c.recent, UIDNEXT: c.uidNext, UIDVALIDITY: c.uidValidity, UNSEEN: c.unseen, DELETED: c.deleted,
      HIGHESTMODSEQ: c.highestModseq ?? 0,
    };
    return items.flatMap((item) => [atom(item), count[item as Exclude<StatusItem, 'SIZE'>]]);
  }
  const snapshot = await user.openMailbox(mailbox);
  const values: ImapValue[] = [];
  for (const item of items) {
    let value: number;
    switch (item) {
      case 'MESSAGES':
        value = snapshot.messages.length;
        break;
      case 'RECENT':
        value = snapshot.firstRecentUid === undefined ? 0 : snapshot.messages.filter((m) => m.uid >= (snapshot.firstRecentUid as number)).length;
        break;
      case 'UIDNEXT':
        value = snapshot.uidNext;
        break;
      case 'UIDVALIDITY':
        value = snapshot.uidValidity;
        break;
      case 'UNSEEN':
        value = snapshot.messages.filter((m) => !m.flags.includes('\\Seen')).length;
        break;
      case 'DELETED':
        value = snapshot.messages.filter((m) => m.flags.includes('\\Deleted')).length;
        break;
      case 'SIZE':
        value = snapshot.messages.reduce((sum, m) => sum + m.size, 0);
        break;
      case 'HIGHESTMODSEQ':
        if (!user.supportsModseq) throw new ImapParseError('HIGHESTMODSEQ is not supported');
        value = snapshot.highestModseq ?? 0;
        break;
    }
    values.push(atom(item), value);
  }
  return values;
}
