import { EventEmitter } from 'node:events';

/** A change in one stored mailbox, as seen by every IMAP session of that mailbox in this process. */
export type StoredMailboxChange =
  | { type: 'exists'; mailboxId: number; uid: number }
  | { type: 'expunge'; mailboxId: number; uids: number[] }
  | { type: 'flags'; mailboxId: number; uid: number; flags: string[]; modseq: number };

/**
 * In-process change notification between writers (SMTP delivery, IMAP sessions) and IMAP sessions
 * in IDLE. A multi-node deployment replaces it with PostgreSQL LISTEN/NOTIFY behind the same API.
 */
export class MailEvents {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  emit(change: StoredMailboxChange): void {
    this.emitter.emit(String(change.mailboxId), change);
  }

  subscribe(mailboxId: number, listener: (change: StoredMailboxChange) => void): () => void {
    this.emitter.on(String(mailboxId), listener);
    return () => this.emitter.off(String(mailboxId), listener);
  }
}
