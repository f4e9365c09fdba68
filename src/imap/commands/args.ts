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

/** Hierarchy levels a new mailbox name may have. */
export const MAX_HIERARCHY_LEVELS = 64;

/** Names a client may create: no wildcards, no control characters, no empty hierarchy levels, at most 64 levels. */
export function validateNewMailboxName(name: string): string | null {
  if (!name || name.length > 1000) return 'Invalid mailbox name length';
  if (/[*%\x00-\x1f\x7f]/.test(name)) return 'Mailbox names cannot contain wildcards or control characters';
  const levels = name.split(HIERARCHY_DELIMITER);
  if (levels.some((segment) => segment === '' || segment.trim() !== segment)) return 'Invalid hierarchy level in mailbox name';
  // Each level is stored as a 23-character pseudonym whatever its length (src/mailbox/folder-names.ts):
  // 64 levels keep the stored name (~1.5 KB) inside PostgreSQL's index entry (2.7 KB).
  if (levels.length > MAX_HIERARCHY_LEVELS) return `Mailbox names can have at most ${MAX_HIERARCHY_LEVELS} hierarchy levels`;
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

