/**
 * The one local delivery path. Every writer that puts mail into a mailbox goes through it:
 * submission and its Sent copy, relay from a peer gateway, delivery reports (DSN), read receipts
 * (MDN), record-request sends, IMAP APPEND and patient-folder copies, and the MSSanté intake
 * (through acceptRelayed). IMAP COPY and MOVE place existing messages (no new bytes) in their own
 * store transaction and announce through the same MailEvents. `deliver` commits (MailRepo.commit: the sealed bytes, every placement and the queue item
 * in one durable transaction) and then announces each new message, so that every IMAP session of
 * every node raises EXISTS: this node's sessions at once, the other nodes' through the store's
 * change feed (MailEvents). A writer that committed itself and forgot to announce left clients in
 * IDLE blind until they selected the mailbox again (the DSN sender did).
 *
 * smtp/ and filing/ reach it as `ctx.localDelivery` (an interface on the gateway context), so
 * neither needs the other's internals to put mail in a mailbox.
 */
import type { Logger } from '../log.js';
import type { CommittedDelivery, NewQueueItem, Placement, SealedBytes, Store, StoreTx } from '../store/types.js';
import { crashPoint } from '../util/crash-point.js';
import type { MailEvents } from './mail-events.js';

export interface DeliverOptions {
  /** Remote recipients of the same sealed bytes, queued in the same transaction. */
  queue?: NewQueueItem;
  /** IMAP INTERNALDATE of the placed messages (default: now). */
  internalDate?: Date;
  /**
   * False when the caller must do something between the commit and the announcement (APPEND
   * shares the facts of the client's own copy, committed with it through Placement.meta, with the
   * account's sessions first, so none of them reads them back): the caller then calls `announce`.
   */
  announce?: boolean;
}

export interface LocalDelivery {
  /**
   * Commits, then announces the new (non-duplicate) placements. Once the commit succeeded it never
   * throws: the mail is delivered, and a failed announcement only delays IDLE until the next command.
   * With no placement it only stores the bytes (and queues them when `queue` is given).
   */
  deliver(sealed: SealedBytes, placements: Placement[], options?: DeliverOptions): Promise<CommittedDelivery>;
  /**
   * Several deliveries that go together (the items of one record request) in ONE store transaction
   * (Store.write): all committed, or none, then all announced. Sealed bytes in memory only. `also`
   * runs last in the same transaction (the record request's own row: sent ⇔ recorded), after the
   * crash point `delivery:before-also`.
   */
  deliverAll(items: Array<{ sealed: Buffer; placements: Placement[]; queue?: NewQueueItem }>, also?: (tx: StoreTx) => Promise<void>): Promise<CommittedDelivery[]>;
  /**
   * `deliver`, with `also` run after the commit's writes in the SAME store transaction (a delivery
   * to a record server and its filing rows): both committed, or neither (crash point
   * `delivery:before-also` between the two). Then announced. Sealed bytes in memory or a sealed
   * file (a large message: the store's once committed, left in place when rolled back); `also`
   * must await only `tx` (Store.write).
   */
  deliverWith<T>(sealed: SealedBytes, placements: Placement[], options: Omit<DeliverOptions, 'announce'>, also: (tx: StoreTx) => Promise<T>): Promise<{ committed: CommittedDelivery; also: T }>;
  /**
   * The copies of one message (a submission's OpenPGP, S/MIME and MSSanté copies, each with its
   * placements and queue entry) in ONE store transaction, `also` last in it (the filing rows): all
   * committed, or none — a crash between two copies (crash point `delivery:between-copies`) leaves
   * no recipient with the message and the client, without a 250, sends it again. Then announced.
   * Sealed bytes in memory or sealed files, as `deliverWith`.
   */
  deliverTogether<T>(copies: Array<{ sealed: SealedBytes; placements: Placement[]; queue?: NewQueueItem }>, also?: (tx: StoreTx) => Promise<T>): Promise<{ committed: CommittedDelivery[]; also: T | undefined }>;
  /** Announces what a commit placed (EXISTS on every session of every node); never throws. */
  announce(committed: CommittedDelivery): void;
}

export class StoreLocalDelivery implements LocalDelivery {
  constructor(private readonly store: Pick<Store, 'mail' | 'write'>, private readonly events: Pick<MailEvents, 'emit'>, private readonly logger?: Logger) {}

  async deliver(sealed: SealedBytes, placements: Placement[], options: DeliverOptions = {}): Promise<CommittedDelivery> {
    const committed = await this.store.mail.commit(sealed, placements, options.queue, options.internalDate);
    if (options.announce !== false) this.announce(committed);
    return committed;
  }

  async deliverAll(items: Array<{ sealed: Buffer; placements: Placement[]; queue?: NewQueueItem }>, also?: (tx: StoreTx) => Promise<void>): Promise<CommittedDelivery[]> {
    const committed = await this.store.write(async (tx) => {
      const done: CommittedDelivery[] = [];
      for (const item of items) done.push(await tx.mail.commit(item.sealed, item.placements, item.queue));
      if (also) {
        crashPoint('delivery:before-also');
        await also(tx);
      }
      return done;
    });
    for (const c of committed) this.announce(c);
    return committed;
  }

  async deliverWith<T>(sealed: SealedBytes, placements: Placement[], options: Omit<DeliverOptions, 'announce'>, also: (tx: StoreTx) => Promise<T>): Promise<{ committed: CommittedDelivery; also: T }> {
    const done = await this.store.write(async (tx) => {
      const committed = await tx.mail.commit(sealed, placements, options.queue, options.internalDate);
      crashPoint('delivery:before-also');
      return { committed, also: await also(tx) };
    });
    this.announce(done.committed);
    return done;
  }

  async deliverTogether<T>(copies: Array<{ sealed: SealedBytes; placements: Placement[]; queue?: NewQueueItem }>, also?: (tx: StoreTx) => Promise<T>): Promise<{ committed: CommittedDelivery[]; also: T | undefined }> {
    const [only] = copies;
    if (only && copies.length === 1 && !also) {
      // One copy and nothing with it (most submissions): the store's own commit. On PostgreSQL that
      // is one idempotent statement run again until the server answers, so its outcome is known
      // even when the server dies at COMMIT and restarts. A transaction (Store.write) learns it from
      // txid_status, and after an immediate stop an id whose records never reached the disk can be
      // given to another transaction: store-outage saw a 250 for a message that was not there
      // (2 runs in 6) when every submission went through Store.write.
      const committed = await this.store.mail.commit(only.sealed, only.placements, only.queue);
      this.announce(committed);
      return { committed: [committed], also: undefined };
    }
    const done = await this.store.write(async (tx) => {
      const committed: CommittedDelivery[] = [];
      for (const copy of copies) {
        if (committed.length) crashPoint('delivery:between-copies');
        committed.push(await tx.mail.commit(copy.sealed, copy.placements, copy.queue));
      }
      if (!also) return { committed, also: undefined };
      crashPoint('delivery:before-also');
      return { committed, also: await also(tx) };
    });
    for (const c of done.committed) this.announce(c);
    return done;
  }

  announce(committed: CommittedDelivery): void {
    for (const p of committed.placed) {
      if (p.duplicate) continue;
      try {
        this.events.emit({ type: 'exists', mailboxId: p.mailboxId, uid: p.uid });
      } catch (err) {
        this.logger?.warn({ blobId: committed.blobId, code: (err as { code?: string }).code }, 'new mail not announced; sessions see it at their next command');
      }
    }
  }
}
