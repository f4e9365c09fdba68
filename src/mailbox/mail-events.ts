import { EventEmitter } from 'node:events';
import type { ChangeFeed, StoredMailboxChange } from '../store/types.js';

export type { StoredMailboxChange } from '../store/types.js';

/**
 * Change notification between writers (SMTP delivery, IMAP sessions) and IMAP sessions in IDLE.
 * This process's own changes reach its sessions at once, in order (an APPEND's EXISTS comes before
 * its tagged OK); with a cluster store, they also go to the other nodes through the store's change
 * feed, and the other nodes' changes come back through it.
 */
export class MailEvents {
  private readonly emitter = new EventEmitter();
  private readonly stopRemote: (() => void) | undefined;

  constructor(private readonly feed?: ChangeFeed) {
    this.emitter.setMaxListeners(0);
    this.stopRemote = feed?.onRemote((change) => this.deliver(change));
  }

  private deliver(change: StoredMailboxChange): void {
    this.emitter.emit(String(change.mailboxId), change);
  }

  emit(change: StoredMailboxChange): void {
    this.deliver(change);
    this.feed?.publish(change);
  }

  subscribe(mailboxId: number, listener: (change: StoredMailboxChange) => void): () => void {
    this.emitter.on(String(mailboxId), listener);
    return () => this.emitter.off(String(mailboxId), listener);
  }

  close(): void {
    this.stopRemote?.();
  }
}
