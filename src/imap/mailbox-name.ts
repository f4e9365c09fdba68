/** Mailbox name rules shared by the protocol layer and backends. */

export const HIERARCHY_DELIMITER = '/';

/** INBOX is case-insensitive (RFC 3501 §5.1); every other name is case-sensitive. */
export function canonicalMailboxName(name: string): string {
  const trimmed = name.replace(/\/+$/, '');
  if (trimmed.toUpperCase() === 'INBOX') return 'INBOX';
  if (trimmed.toUpperCase().startsWith('INBOX/')) return 'INBOX' + trimmed.slice(5);
  return trimmed;
}

/** LIST pattern matching: `*` matches anything, `%` anything but the delimiter (RFC 3501 §6.3.8). */
export function listPatternToRegExp(reference: string, pattern: string): RegExp {
  let full = pattern;
  if (reference && !pattern.startsWith(HIERARCHY_DELIMITER)) {
    full = reference.endsWith(HIERARCHY_DELIMITER) ? reference + pattern : reference + HIERARCHY_DELIMITER + pattern;
  }
  let source = '';
  for (const char of full) {
    if (char === '*') source += '.*';
    else if (char === '%') source += '[^/]*';
    else source += char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  // INBOX matches case-insensitively.
  if (/^inbox/i.test(full)) source = '(?:[Ii][Nn][Bb][Oo][Xx])' + source.slice(5);
  return new RegExp('^' + source + '$');
}
