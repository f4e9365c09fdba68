/** Argument helpers shared by command handlers. */
import { ImapParseError } from '../errors.js';
import { canonicalMailboxName, HIERARCHY_DELIMITER } from '../mailbox-name.js';
import { tokenText, type Token } from '../parser/tokenizer.js';
import { decodeMailboxName } from '../utf7.js';
import { normaliseFlag } from '../parser/flags.js';

export { parseDate, parseDateTime, formatDateTime } from '../parser/dates.js';
export { normaliseFlag };

export function expectArgCount(args: Token[], min: number, max = min): void {
  if (args.length < min || args.length > max) throw new ImapParseError('Wrong number of arguments');
}

/** A mailbox argument: modified UTF-7 decoded, INBOX normalised. */
export function mailboxArg(token: Token | undefined): string {
  const text = tokenText(token);
  // Clients that send raw UTF-8 (8-bit bytes) are accepted as-is; otherwise decode mUTF-7.
  return canonicalMailboxName(/[^\x00-\x7f]/.test(text) ? text : decodeMailboxName(text));
}

/** Names a client may create: no wildcards, no control characters, no empty hierarchy levels. */
export function validateNewMailboxName(name: string): string | null {
  if (!name || name.length > 1000) return 'Invalid mailbox name length';
  if (/[*%\x00-\x1f\x7f]/.test(name)) return 'Mailbox names cannot contain wildcards or control characters';
  if (name.split(HIERARCHY_DELIMITER).some((segment) => segment === '' || segment.trim() !== segment)) return 'Invalid hierarchy level in mailbox name';
  return null;
}

/** `(\Seen \Flagged)` or a single flag atom. */
export function flagListArg(token: Token | undefined): string[] {
  if (!token) throw new ImapParseError('Missing flag list');
  const items = token.type === 'list' ? token.items : [token];
  return items.map((item) => {
    if (item.type !== 'atom') throw new ImapParseError('Flags must be atoms');
    if (!/^\\?[^\s(){%*"\\\]]+$/.test(item.value)) throw new ImapParseError('Invalid flag');
    return normaliseFlag(item.value);
  });
}

