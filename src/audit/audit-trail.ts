import { createHash } from 'node:crypto';
import { addressKey } from '../net/address-key.js';
import type { AuditRecord, AuditRepo } from '../store/types.js';

/** Hash of the first record's predecessor: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEvent {
  actor: string;
  action: string;
  outcome: AuditRecord['outcome'];
  messageId?: string | null;
  /** Codes, addresses, counts — never message content or patient identity. */
  details?: Record<string, unknown>;
}

/** Canonical JSON: sorted keys, so the hash does not depend on property order. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  const obj = value as Record<string, unknown>;
  return '{' + Object.keys(obj).sort().filter((k) => obj[k] !== undefined).map((k) => JSON.stringify(k) + ':' + canonical(obj[k])).join(',') + '}';
}

export function hashRecord(r: Omit<AuditRecord, 'hash'>): string {
  const body = canonical({
    seq: r.seq, at: r.at, actor: r.actor, action: r.action, outcome: r.outcome,
    messageId: r.messageId, details: r.details, prevHash: r.prevHash,
  });
  return createHash('sha256').update(body).digest('hex');
}

export type AuditVerification =
  | { ok: true; records: number; headHash: string }
  | { ok: false; records: number; brokenAt: number; reason: string };

/** How refusals from one source are audited (config `audit.refusals`). */
export interface RefusalAggregation {
  /** Refusals of one kind from one source recorded one by one in a window; beyond, only counted. */
  individualPerWindow: number;
  windowSeconds: number;
  /**
   * Windows (kind and source) open at once. A refusal from a further source is only counted, into
   * one window per kind for all such sources: a flood from many addresses (a botnet, addresses
   * rotated across many /64s) writes a bounded number of records too.
   */
  maxOpenWindows: number;
}

/** How refusals were audited since the start (`/metrics`). */
export interface RefusalCounts {
  /** Written as a record each. */
  individual: number;
  /** Counted into their source's aggregate record. */
  aggregated: number;
  /** Counted into a kind's record for the sources beyond `maxOpenWindows`. */
  overflow: number;
  /** Windows open now (overflow windows included). */
  openWindows: number;
}

/** A refusal: `source` is the client address it came from, `reason` its stable code. */
export interface RefusalEvent extends AuditEvent {
  source: string;
  reason: string;
}

interface RefusalWindow {
  from: Date;
  individual: number;
  counted: number;
  /** Refusals per actor (the account tried), to name the most tried: a window's target, not its first ten. */
  actors: Tally;
  action: string;
  source: string;
  reason: string;
  timer: NodeJS.Timeout | undefined;
  /** The overflow window of a kind: its refusals per distinct source (up to `SOURCES_TRACKED`). */
  overflow?: { sources: Tally };
}

/**
 * Counts per name, up to `limit` names (its memory bound; further names are only flagged), and
 * names the most counted. An aggregate record names the busiest sources and the most tried accounts:
 * naming the first ones seen let a brute force hide behind a few earlier refusals (ten sources or
 * accounts seen once, then thousands of guesses at one doctor's password from one more address:
 * neither named in the record).
 */
class Tally {
  private readonly counts = new Map<string, number>();
  more = false;
  constructor(private readonly limit: number) {}
  add(name: string): void {
    const n = this.counts.get(name);
    if (n !== undefined) this.counts.set(name, n + 1);
    else if (this.counts.size < this.limit) this.counts.set(name, 1);
    else this.more = true;
  }
  get size(): number {
    return this.counts.size;
  }
  /** The `n` most counted, the first seen first among equals (Array#sort is stable). */
  top(n: number): string[] {
    return [...this.counts].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name]) => name);
  }
}

const DEFAULT_REFUSALS: RefusalAggregation = { individualPerWindow: 10, windowSeconds: 60, maxOpenWindows: 20 };
/** Sources an overflow record names, the busiest first (the count covers them all). */
const SOURCES_NAMED = 10;
/** Distinct sources an overflow window tells apart (its memory bound); beyond, the record says "at least". */
const SOURCES_TRACKED = 10_000;
/** Actors a record names (the most tried), and how many distinct ones a window counts. */
const ACTORS_NAMED = 10;
const ACTORS_TRACKED = 1_000;
/** What an overflow window stands for in its record's `remote`. */
export const OTHER_SOURCES = 'other sources';

/**
 * The append-only, hash-chained audit trail: each record carries the hash of the previous one, so
 * editing, removing or reordering any record breaks every hash after it.
 *
 * Refusals (`refused()`) are audited per source and window: the first few of each kind one by one,
 * with all their details, then only counted, and the count written as one record (`aggregate: true`)
 * when the window closes. A flood of refused attempts (an API hammered without a certificate, a
 * password spray, a port scan) writes a bounded number of chained records, not one each (issue 27).
 */
export class AuditTrail {
  private readonly windows = new Map<string, RefusalWindow>();
  /** Source windows open (overflow windows are not counted: one per kind at most). */
  private sourceWindows = 0;
  private refusals: RefusalAggregation = DEFAULT_REFUSALS;
  private readonly counts = { individual: 0, aggregated: 0, overflow: 0 };
  /** Where an aggregate that cannot be written is reported (the log). */
  private onAggregateError: (err: unknown) => void = () => {};

  constructor(private readonly repo: AuditRepo, private readonly now: () => Date = () => new Date()) {}

  /** Sets how refusals are aggregated, and where a failed aggregate write is reported. */
  configureRefusals(o: RefusalAggregation, onError?: (err: unknown) => void): void {
    this.refusals = o;
    if (onError) this.onAggregateError = onError;
  }

  /**
   * Audits a refusal: recorded individually while its source has had fewer than
   * `individualPerWindow` refusals of this action and reason in the current window, else counted
   * into the window's aggregate record. With `maxOpenWindows` windows open, a refusal that would
   * open one more is counted into its kind's overflow window instead (`remote: 'other sources'`).
   * So a window's time writes at most maxOpenWindows × (individualPerWindow + 1) records, plus one
   * per kind, whatever the number of sources.
   */
  async refused(event: RefusalEvent): Promise<void> {
    const { source: address, reason, ...rest } = event;
    // A client by what it cannot change at will: an IPv6 host by its /64 (src/net/address-key.ts),
    // as the connection caps and login limits count it. Per full address, a host rotating through
    // its /64 opened a window, and wrote its individual records, per address.
    const source = addressKey(address);
    const key = `${event.action}\u0000${source}\u0000${reason}`;
    let w = this.windows.get(key);
    if (!w && this.sourceWindows >= this.refusals.maxOpenWindows) {
      const overflowKey = `${event.action}\u0001\u0000${reason}`;
      w = this.windows.get(overflowKey) ?? this.open(overflowKey, event.action, OTHER_SOURCES, reason, true);
      w.overflow!.sources.add(source);
      w.counted++;
      this.counts.overflow++;
      w.actors.add(event.actor);
      return;
    }
    w ??= this.open(key, event.action, source, reason, false);
    if (w.individual < this.refusals.individualPerWindow) {
      w.individual++;
      this.counts.individual++;
      await this.record({ ...rest, outcome: 'refused' });
      return;
    }
    w.counted++;
    this.counts.aggregated++;
    w.actors.add(event.actor);
  }

  /** How refusals were audited since the start, and the windows open now (`/metrics`). */
  refusalCounts(): RefusalCounts {
    return { ...this.counts, openWindows: this.windows.size };
  }

  private open(key: string, action: string, source: string, reason: string, overflow: boolean): RefusalWindow {
    const w: RefusalWindow = { from: this.now(), individual: 0, counted: 0, actors: new Tally(ACTORS_TRACKED), action, source, reason, timer: undefined };
    if (overflow) w.overflow = { sources: new Tally(SOURCES_TRACKED) };
    else this.sourceWindows++;
    this.windows.set(key, w);
    w.timer = setTimeout(() => void this.closeWindow(key, w), this.refusals.windowSeconds * 1000);
    w.timer.unref();
    return w;
  }

  private async closeWindow(key: string, w: RefusalWindow): Promise<void> {
    if (this.windows.get(key) !== w) return;
    this.windows.delete(key);
    if (!w.overflow) this.sourceWindows--;
    if (w.timer) clearTimeout(w.timer);
    if (!w.counted) return;
    try {
      await this.record({
        actor: 'aggregate', action: w.action, outcome: 'refused',
        details: {
          aggregate: true, remote: w.source, reason: w.reason, count: w.counted,
          recordedIndividually: w.individual, from: w.from.toISOString(), to: this.now().toISOString(), actors: w.actors.top(ACTORS_NAMED),
          ...(w.overflow ? {
            sources: w.overflow.sources.size, ...(w.overflow.sources.more ? { sourcesAtLeast: true } : {}),
            someSources: w.overflow.sources.top(SOURCES_NAMED),
          } : {}),
        },
      });
    } catch (err) {
      this.onAggregateError(err);
    }
  }

  /** Writes every open window's count now (at shutdown, and for tests). */
  async flushRefusals(): Promise<void> {
    await Promise.all([...this.windows].map(([key, w]) => this.closeWindow(key, w)));
  }

  async record(event: AuditEvent): Promise<AuditRecord> {
    return this.repo.append((prev) => {
      const partial = {
        seq: (prev?.seq ?? 0) + 1,
        at: this.now().toISOString(),
        actor: event.actor,
        action: event.action,
        outcome: event.outcome,
        messageId: event.messageId ?? null,
        details: event.details ?? {},
        prevHash: prev?.hash ?? GENESIS_HASH,
      };
      return { ...partial, hash: hashRecord(partial) };
    });
  }

  async verify(): Promise<AuditVerification> {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    let count = 0;
    const page = 5000;
    for (;;) {
      const batch = await this.repo.list(expectedSeq, page);
      for (const r of batch) {
        count++;
        if (r.seq !== expectedSeq) return { ok: false, records: count, brokenAt: expectedSeq, reason: `record ${expectedSeq} is missing (next found is ${r.seq})` };
        if (r.prevHash !== prevHash) return { ok: false, records: count, brokenAt: r.seq, reason: `record ${r.seq} does not link to record ${r.seq - 1} (previous hash differs)` };
        if (hashRecord(r) !== r.hash) return { ok: false, records: count, brokenAt: r.seq, reason: `record ${r.seq} was altered (its content does not match its hash)` };
        prevHash = r.hash;
        expectedSeq++;
      }
      if (batch.length < page) break;
    }
    return { ok: true, records: count, headHash: prevHash };
  }

  list(from?: number, limit?: number): Promise<AuditRecord[]> {
    return this.repo.list(from, limit);
  }
}
