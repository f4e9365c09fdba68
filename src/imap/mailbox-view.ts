/**
 * The selected mailbox as this client knows it: UID list (its order gives sequence numbers) and
 * the flags last reported. Changes from the backend are queued and turned into EXISTS / EXPUNGE /
 * FETCH FLAGS responses only when the protocol allows it (RFC 3501 §7.4.1: no EXPUNGE during
 * FETCH, STORE or SEARCH). Comparing with what the client already knows removes duplicates of
 * changes this session made itself.
 */
import type { MailboxChange, MailboxSnapshot, MessageSummary } from './backend.js';
import { atom, untagged, type ImapValue } from './response.js';
import { sequenceSetContains, type SequenceSet } from './parser/sequence-set.js';

export interface MessageState {
  uid: number;
  flags: string[];
  internalDate: Date;
  size: number;
  modseq?: number;
}

function sameFlags(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  const set = new Set(a.map((f) => f.toLowerCase()));
  return b.every((f) => set.has(f.toLowerCase()));
}

export class MailboxView {
  readonly name: string;
  readonly readOnly: boolean;
  readonly uidValidity: number;
  uidNext: number;
  /** CONDSTORE: highest modseq this client has been told about (0 when unsupported). */
  highestModseq: number;
  private messages: MessageState[];
  private pending: MailboxChange[] = [];
  unsubscribe: () => void = () => {};

  constructor(snapshot: MailboxSnapshot, readOnly: boolean) {
    this.name = snapshot.name;
    this.readOnly = readOnly || Boolean(snapshot.readOnly);
    this.uidValidity = snapshot.uidValidity;
    this.uidNext = snapshot.uidNext;
    this.highestModseq = snapshot.highestModseq ?? 0;
    this.messages = snapshot.messages.map((m) => ({ ...m, flags: [...m.flags] }));
  }

  get exists(): number {
    return this.messages.length;
  }

  all(): MessageState[] {
    return this.messages;
  }

  /** Sequence number (1-based) of a UID, 0 when unknown. */
  seqOf(uid: number): number {
    let low = 0;
    let high = this.messages.length - 1;
    while (low <= high) {
      const mid = (low + high) >> 1;
      const value = (this.messages[mid] as MessageState).uid;
      if (value === uid) return mid + 1;
      if (value < uid) low = mid + 1;
      else high = mid - 1;
    }
    return 0;
  }

  get(uid: number): MessageState | undefined {
    const seq = this.seqOf(uid);
    return seq ? this.messages[seq - 1] : undefined;
  }

  /** Messages designated by a sequence set, in ascending order. */
  resolve(set: SequenceSet, byUid: boolean): MessageState[] {
    if (byUid) {
      const max = this.messages.length ? (this.messages[this.messages.length - 1] as MessageState).uid : 0;
      return this.messages.filter((m) => sequenceSetContains(set, m.uid, max));
    }
    const max = this.messages.length;
    return this.messages.filter((_m, i) => sequenceSetContains(set, i + 1, max));
  }

  setFlags(uid: number, flags: string[], modseq?: number): void {
    const message = this.get(uid);
    if (!message) return;
    message.flags = [...flags];
    if (modseq !== undefined) this.noteModseq(message, modseq);
  }

  private noteModseq(message: MessageState, modseq: number): void {
    message.modseq = modseq;
    if (modseq > this.highestModseq) this.highestModseq = modseq;
  }

  /** Removes messages now and returns the EXPUNGE responses, in an order that keeps numbers valid. */
  remove(uids: number[]): Buffer[] {
    const responses: Buffer[] = [];
    for (const uid of [...uids].sort((a, b) => b - a)) {
      const seq = this.seqOf(uid);
      if (!seq) continue;
      this.messages.splice(seq - 1, 1);
      responses.push(untagged(seq, atom('EXPUNGE')));
    }
    return responses;
  }

  queue(change: MailboxChange): void {
    this.pending.push(change);
  }

  hasPending(): boolean {
    return this.pending.length > 0;
  }

  /**
   * Turns queued changes into responses. When expunges are not allowed yet they (and everything
   * after them, to keep order) stay queued.
   */
  drain(allowExpunge: boolean, withModseq: boolean): Buffer[] {
    const responses: Buffer[] = [];
    let existsChanged = false;
    while (this.pending.length > 0) {
      const change = this.pending[0] as MailboxChange;
      if (change.type === 'expunge' && !allowExpunge) break;
      this.pending.shift();
      if (change.type === 'exists') {
        existsChanged = this.add(change.message) || existsChanged;
      } else if (change.type === 'expunge') {
        if (existsChanged) {
          responses.push(untagged(this.messages.length, atom('EXISTS')));
          existsChanged = false;
        }
        responses.push(...this.remove(change.uids));
      } else {
        const message = this.get(change.uid);
        if (!message || sameFlags(message.flags, change.flags)) continue;
        message.flags = [...change.flags];
        if (change.modseq !== undefined) this.noteModseq(message, change.modseq);
        const items: ImapValue[] = [atom('UID'), message.uid, atom('FLAGS'), change.flags.map(atom)];
        if (withModseq && message.modseq !== undefined) items.push(atom('MODSEQ'), [message.modseq]);
        responses.push(untagged(this.seqOf(message.uid), atom('FETCH'), items));
      }
    }
    if (existsChanged) responses.push(untagged(this.messages.length, atom('EXISTS')));
    return responses;
  }

  /** Adds a message announced by the backend; false when already known (e.g. our own APPEND). */
  private add(message: MessageSummary): boolean {
    if (this.seqOf(message.uid)) return false;
    const state: MessageState = { uid: message.uid, flags: [...message.flags], internalDate: message.internalDate, size: message.size };
    if (message.modseq !== undefined) this.noteModseq(state, message.modseq);
    const last = this.messages[this.messages.length - 1];
    if (!last || last.uid < message.uid) this.messages.push(state);
    else {
      this.messages.push(state);
      this.messages.sort((a, b) => a.uid - b.uid);
    }
    if (message.uid >= this.uidNext) this.uidNext = message.uid + 1;
    return true;
  }
}
