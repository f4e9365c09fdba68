/**
 * The mail tables' rows as both stores read them, their mappings, and the mailbox naming rules both
 * stores apply before a name reaches SQL.
 */
import { createHash } from 'node:crypto';
import { isSealedFile, type Mailbox, type SealedBytes, type SpecialUse, type StoredMessage } from '../types.js';
import { bool, type DbBool } from './columns.js';

export interface MailboxRow {
  id: number; owner: string; name: string; special_use: string | null; uid_validity: number;
  uid_next: number; highest_modseq: number; subscribed: DbBool; recent_uid: number;
}
export interface MessageRow {
  mailbox_id: number; uid: number; blob_id: string; flags: string; internal_date: string; sealed_size: number; modseq: number;
}

export const mailboxFrom = (r: MailboxRow): Mailbox => ({
  id: r.id, owner: r.owner, name: r.name, specialUse: r.special_use as SpecialUse, uidValidity: r.uid_validity,
  uidNext: r.uid_next, highestModseq: r.highest_modseq, subscribed: bool(r.subscribed), recentUid: r.recent_uid,
});
export const messageFrom = (r: MessageRow): StoredMessage => ({
  mailboxId: r.mailbox_id, uid: r.uid, blobId: r.blob_id, flags: r.flags ? r.flags.split(' ') : [],
  internalDate: r.internal_date, sealedSize: r.sealed_size, modseq: r.modseq,
});

/** INBOX is case-insensitive (RFC 3501 §5.1); every other name is kept as given. */
export function canonicalMailboxName(name: string): string {
  return name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
}

/** The special-use attribute of the standard folders, created on demand with it. */
export function defaultSpecialUse(name: string): SpecialUse {
  const canonical = canonicalMailboxName(name);
  const map: Record<string, SpecialUse> = { INBOX: '\\Inbox', Sent: '\\Sent', Drafts: '\\Drafts', Trash: '\\Trash', Junk: '\\Junk' };
  return map[canonical] ?? null;
}

/** A flag list as stored: each flag once, sorted (the `flags` column is the list joined by spaces). */
export function uniqueFlags(flags: string[]): string[] {
  return [...new Set(flags)].sort();
}

/** A blob's id: the SHA-256 of the sealed bytes (content-addressed, so one message stored once). */
export function blobIdOf(sealed: Buffer): string {
  return createHash('sha256').update(sealed).digest('hex');
}

/** The `blobs` row's id and size of sealed bytes in memory or in a spool file (whose digest was taken as it was written). */
export function blobKeyOf(sealed: SealedBytes): { blobId: string; size: number } {
  return isSealedFile(sealed) ? { blobId: sealed.sha256, size: sealed.size } : { blobId: blobIdOf(sealed), size: sealed.length };
}
