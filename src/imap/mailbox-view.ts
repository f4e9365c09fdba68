/**
 * The selected mailbox as this client knows it: UID list (its order gives sequence numbers), the
 * flags last reported, which messages are \Recent for this session and which keywords the client
 * was told exist. Changes from the backend are queued and turned into EXISTS / EXPUNGE / FETCH FLAGS
 * responses only when the protocol allows it (RFC 3501 §7.4.1: no EXPUNGE during FETCH, STORE or
 * SEARCH). Comparing with what the client already knows removes duplicates of changes this session
 * made itself.
 *
 * Two invariants keep the client's picture exact (RFC 3501 §5.2, RFC 9051 §7.5.1):
 * - no response names a sequence number above the last EXISTS the client received: a FETCH for a
 *   message that arrived in the same drain is preceded by its EXISTS;
 * - no FETCH shows a keyword the client was not told about: FLAGS and PERMANENTFLAGS are sent first.
 */
import type { MailboxChange, MailboxSnapshot, MessageSummary } from './backend.js';
import { atom, untagged, type ImapValue } from './response.js';
import type { SequenceSet } from './parser/sequence-set.js';

export interface MessageState {
  uid: number;
  /** Stored flags (never `\Recent`). */
  flags: string[];
  internalDate: Date;
  size: number;
  modseq?: number;
  /** RFC 3501 §2.3.2: this session is the first to see the message. */
  recent: boolean;
}

export const SYSTEM_FLAGS = ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft'];

/** The flags as a client sees them: stored flags plus `\Recent` for this session. */
export function visibleFlags(message: MessageState): string[] {
  return message.recent ? [...message.flags, '\\Recent'] : message.flags;
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
  /** How many of `messages` are \\Recent, kept as they come and go: counting them was O(messages) per APPEND's RECENT. */
  private recentTotal: number;
  private pending: MailboxChange[] = [];
  /** Keywords announced in FLAGS (lower-case -> as spelled). */
  private readonly keywords = new Map<string, string>();
  unsubscribe: () => void = () => {};

  constructor(snapshot: MailboxSnapshot, readOnly: boolean) {
    this.name = snapshot.name;
    this.readOnly = readOnly || Boolean(snapshot.readOnly);
    this.uidValidity = snapshot.uidValidity;
    this.uidNext = snapshot.uidNext;
    this.highestModseq = snapshot.highestModseq ?? 0;
    const firstRecent = snapshot.firstRecentUid ?? Number.POSITIVE_INFINITY;
    this.messages = snapshot.messages.map((m) => ({ ...m, flags: [...m.flags], recent: m.uid >= firstRecent }));
    this.recentTotal = this.messages.reduce((n, m) => n + (m.recent ? 1 : 0), 0);
    for (const keyword of snapshot.keywords ?? []) this.noteKeyword(keyword);
    for (const message of this.messages) for (const flag of message.flags) this.noteKeyword(flag);
  }

  get exists(): number {
    return this.messages.length;
  }

  get recentCount(): number {
    return this.recentTotal;
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

  /**
   * Messages designated by a sequence set, in ascending order, each once. Each range is found by
   * binary search (UIDs and sequence numbers both ascend): a `UID FETCH 91234` in a 10 000-message
   * INBOX no longer tests every message, which it did for every command of a long session.
   */
  resolve(set: SequenceSet, byUid: boolean): MessageState[] {
    const n = this.messages.length;
    if (n === 0) return [];
    const key = byUid ? (i: number): number => (this.messages[i] as MessageState).uid : (i: number): number => i + 1;
    const max = key(n - 1);
    /** First index whose key is at least `value`. */
    const firstAtLeast = (value: number): number => {
      let low = 0;
      let high = n;
      while (low < high) {
        const mid = (low + high) >> 1;
        if (key(mid) < value) low = mid + 1;
        else high = mid;
      }
      return low;
    };
    const spans: Array<[number, number]> = [];
    for (const [a, b] of set) {
      const x = a === '*' ? max : a;
      const y = b === '*' ? max : b;
      const from = firstAtLeast(Math.min(x, y));
      const to = firstAtLeast(Math.max(x, y) + 1);
      if (from < to) spans.push([from, to]);
    }
    if (spans.length === 1) return this.messages.slice(spans[0]![0], spans[0]![1]);
    spans.sort((p, q) => p[0] - q[0]);
    const out: MessageState[] = [];
    let next = 0;
    for (const [from, to] of spans) {
      for (let i = Math.max(from, next); i < to; i++) out.push(this.messages[i] as MessageState);
      next = Math.max(next, to);
    }
    return out;
  }

  // ---- flags and keywords -------------------------------------------------------------------

  private noteKeyword(flag: string): boolean {
    if (flag.startsWith('\\')) return false;
    const key = flag.toLowerCase();
    if (this.keywords.has(key)) return false;
    this.keywords.set(key, flag);
    return true;
  }

  /** The `FLAGS` and `OK [PERMANENTFLAGS]` responses for the keywords known now. */
  flagsResponses(): Buffer[] {
    const flags = [...SYSTEM_FLAGS, ...this.keywords.values()];
    const permanent = this.readOnly ? [] : [...flags, '\\*'];
    return [
      untagged(atom('FLAGS'), flags.map(atom)),
      untagged(atom('OK'), atom(`[PERMANENTFLAGS (${permanent.join(' ')})]`), atom('Flags permitted')),
    ];
  }

  /**
   * Call before any response that shows `flags`: when one is a keyword the client has not been
   * told about, returns FLAGS/PERMANENTFLAGS to send first (RFC 3501 §7.2.6), else nothing.
   */
  announceKeywords(flags: string[]): Buffer[] {
    let added = false;
    for (const flag of flags) added = this.noteKeyword(flag) || added;
    return added ? this.flagsResponses() : [];
  }

  setFlags(uid: number, flags: string[], modseq?: number): void {
    const message = this.get(uid);
    if (!message) return;
    message.flags = flags.filter((f) => f !== '\\Recent');
    if (modseq !== undefined) this.noteModseq(message, modseq);
  }

  private noteModseq(message: MessageState, modseq: number): void {
    message.modseq = modseq;
    if (modseq > this.highestModseq) this.highestModseq = modseq;
  }

  // ---- changes ------------------------------------------------------------------------------

  /** Removes messages now and returns the EXPUNGE responses, in an order that keeps numbers valid. */
  remove(uids: number[]): Buffer[] {
    const responses: Buffer[] = [];
    for (const uid of [...uids].sort((a, b) => b - a)) {
      const seq = this.seqOf(uid);
      if (!seq) continue;
      if (this.messages.splice(seq - 1, 1)[0]?.recent) this.recentTotal--;
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
    let announced = this.messages.length;
    let recentChanged = false;
    const announceExists = (): void => {
      if (announced === this.messages.length) return;
      responses.push(untagged(this.messages.length, atom('EXISTS')));
      if (recentChanged) responses.push(untagged(this.recentCount, atom('RECENT')));
      announced = this.messages.length;
      recentChanged = false;
    };
    while (this.pending.length > 0) {
      const change = this.pending[0] as MailboxChange;
      if (change.type === 'expunge' && !allowExpunge) break;
      this.pending.shift();
      if (change.type === 'exists') {
        if (!this.add(change.message)) continue;
        responses.push(...this.announceKeywords(change.message.flags));
        recentChanged = recentChanged || Boolean(change.message.recent);
      } else if (change.type === 'expunge') {
        announceExists();
        const removed = this.remove(change.uids);
        announced -= removed.length;
        responses.push(...removed);
      } else {
        const message = this.get(change.uid);
        if (!message || sameFlags(message.flags, change.flags.filter((f) => f !== '\\Recent'))) continue;
        // Older than what this view already holds (its own STORE's answer, or a newer summary):
        // applying it would take the flags and the MODSEQ back in time.
        if (change.modseq !== undefined && message.modseq !== undefined && change.modseq <= message.modseq) continue;
        this.setFlags(message.uid, change.flags, change.modseq);
        responses.push(...this.announceKeywords(message.flags));
        const seq = this.seqOf(message.uid);
        if (seq > announced) continue; // its EXISTS comes below, and a FETCH of it carries the flags
        const items: ImapValue[] = [atom('UID'), message.uid, atom('FLAGS'), visibleFlags(message).map(atom)];
        if (withModseq && message.modseq !== undefined) items.push(atom('MODSEQ'), [message.modseq]);
        responses.push(untagged(seq, atom('FETCH'), items));
      }
    }
    announceExists();
    return responses;
  }

  /** Adds a message announced by the backend; false when already known (e.g. our own APPEND). */
  private add(message: MessageSummary): boolean {
    if (this.seqOf(message.uid)) return false;
    // UIDs only grow: one below the highest known is a stale notification of a message this view
    // never had (expunged before the snapshot was read); inserting it would renumber the client.
    const last = this.messages[this.messages.length - 1];
    if (last && message.uid < last.uid) return false;
    const state: MessageState = {
      uid: message.uid, flags: message.flags.filter((f) => f !== '\\Recent'), internalDate: message.internalDate,
      size: message.size, recent: Boolean(message.recent),
    };
    if (message.modseq !== undefined) this.noteModseq(state, message.modseq);
    this.messages.push(state);
    if (state.recent) this.recentTotal++;
    if (message.uid >= this.uidNext) this.uidNext = message.uid + 1;
    return true;
  }
}
