/** Shared by LIST and LSUB: the mailbox tree with its attributes, matched against patterns. */
import type { MailboxInfo } from '../backend.js';
import { HIERARCHY_DELIMITER, listPatternToRegExp } from '../mailbox-name.js';

export interface ListEntry {
  name: string;
  attributes: string[];
  info: MailboxInfo | null;
}

export interface ListOptions {
  subscribedOnly: boolean;
  specialUseOnly: boolean;
  returnSpecialUse: boolean;
  returnChildren: boolean;
  returnSubscribed: boolean;
}

/** Adds \\Noselect entries for parents a backend does not list itself (`a` when only `a/b` exists). */
function withParents(mailboxes: MailboxInfo[]): MailboxInfo[] {
  const names = new Set(mailboxes.map((m) => m.name));
  const result = [...mailboxes];
  for (const mailbox of mailboxes) {
    const segments = mailbox.name.split(HIERARCHY_DELIMITER);
    for (let i = 1; i < segments.length; i++) {
      const parent = segments.slice(0, i).join(HIERARCHY_DELIMITER);
      if (!names.has(parent)) {
        names.add(parent);
        result.push({ name: parent, subscribed: false, noSelect: true });
      }
    }
  }
  return result;
}

export function listEntries(backendMailboxes: MailboxInfo[], reference: string, patterns: string[], options: ListOptions): ListEntry[] {
  const mailboxes = withParents(backendMailboxes);
  const regexps = patterns.map((pattern) => listPatternToRegExp(reference, pattern));
  const names = new Set(mailboxes.map((m) => m.name));
  const entries: ListEntry[] = [];
  for (const info of mailboxes) {
    if (!regexps.some((re) => re.test(info.name))) continue;
    if (options.subscribedOnly && !info.subscribed) continue;
    if (options.specialUseOnly && !info.specialUse) continue;
    const attributes: string[] = [];
    const hasChildren = [...names].some((other) => other.startsWith(info.name + HIERARCHY_DELIMITER));
    if (info.noSelect) attributes.push('\\Noselect');
    if (options.returnChildren) attributes.push(hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if (options.returnSubscribed && info.subscribed) attributes.push('\\Subscribed');
    if (options.returnSpecialUse && info.specialUse) attributes.push(info.specialUse);
    entries.push({ name: info.name, attributes, info });
  }
  entries.sort((a, b) => (a.name === 'INBOX' ? -1 : b.name === 'INBOX' ? 1 : a.name.localeCompare(b.name)));
  return entries;
}
