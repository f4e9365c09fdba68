/**
 * Connection limits of one listener family (SMTP submission, SMTP relay, IMAP): caps in total and
 * per client address, a smaller cap for connections that have not logged in, a deadline to log in,
 * and a minimum data rate while the client is the one who must talk (before login, inside SMTP DATA
 * or an IMAP literal). Idle sockets then cannot hold the door (issue 27): a slowloris is closed, and
 * when unauthenticated connections fill their share the oldest of the busiest address makes room, so
 * a doctor who connects during a flood gets in and, once logged in, is never pushed out by strangers.
 *
 * The guard works on the accepted TCP socket (bytes counted with `socket.bytesRead`, which keeps
 * counting the ciphertext once TLS wraps it); each server says when a session is authenticated and
 * when it waits for data, and how to close it politely.
 */
import type { Socket } from 'node:net';
import { addressKey } from './address-key.js';

export interface ConnectionLimits {
  /** Connections open at once on the listener family. */
  maxConnections: number;
  /** Connections open at once from one client address (an IPv6 client by its /64: src/net/address-key.ts). */
  maxPerAddress: number;
  /**
   * Connections not logged in (yet) at once; at the cap one of them is closed for a newcomer: the
   * oldest of the address that holds the most of them (`evictable`).
   */
  maxUnauthenticated: number;
  /** Time from connection to login (seconds); then the connection is closed. */
  preAuthSeconds: number;
  /** Least average rate (bytes per second) while the client must talk: before login, inside DATA or a literal. */
  minBytesPerSecond: number;
  /** The rate is judged once this many seconds of such a phase have passed (short bursts, slow servers). */
  rateGraceSeconds: number;
}

export type GuardCloseReason = 'pre-auth-deadline' | 'too-slow' | 'unauthenticated-evicted';
export type GuardRefusal = 'too-many-connections' | 'too-many-from-address';

/** What the guard reports (the listener's metrics). */
export interface GuardEvents {
  refused(reason: GuardRefusal): void;
  closed(reason: GuardCloseReason): void;
}

export interface GuardTicket {
  readonly address: string;
  /** What the per-address cap counts this connection under (src/net/address-key.ts). */
  readonly key: string;
  /** The session logged in: no deadline, no rate check outside data phases, never evicted. */
  authenticated(): void;
  /**
   * The client's credentials are being verified (IMAP LOGIN/AUTHENTICATE, SMTP AUTH, a client
   * certificate's check): meanwhile the connection is never closed to make room for a newcomer nor
   * for the login deadline, so a doctor logging in during a flood is not thrown out before the answer.
   */
  loggingIn(on: boolean): void;
  /**
   * HTTP keep-alive: the request is answered and the connection waits for the next one. It counts
   * as not logged in again (a newcomer may evict it, the deadline runs afresh for the next request
   * head), without a rate check until then (a browser keeps idle connections).
   */
  awaitRequest(): void;
  /** The client must now send (DATA, a literal) or not (waiting for our reply): the rate is judged over this phase. */
  expectData(on: boolean): void;
  /**
   * Count the bytes of this socket instead (the TLS socket once TLS is up: its `bytesRead` counts
   * clear text; the TCP socket's counts every TLS record's overhead, which a slowloris sending one
   * byte per record would turn into a passing rate). A socket that can be destroyed is also the one
   * the guard destroys from then on: never the TCP socket under a TLS wrap (see `giveUp`).
   */
  countWith(socket: { bytesRead: number; destroy?: () => unknown }): void;
  /**
   * The server is working on the client's command (a login's key unwrap, a slowed failed login):
   * the client owes nothing meanwhile, so that time does not count against its rate.
   */
  busy(on: boolean): void;
}

/** How the server ends a session the guard gives up on (a polite BYE / 421 when the protocol allows). */
export type CloseSession = (reason: GuardCloseReason) => void;

interface Entry extends GuardTicket {
  socket: Socket;
  /** The topmost socket known (the TLS socket once there is one): what a forced close destroys. */
  top: { destroy(): unknown };
  /** A credential check in progress (never evicted meanwhile). */
  verifying: boolean;
  close: CloseSession;
  isAuthenticated: boolean;
  openedAt: number;
  /** Bytes read so far: `base` plus the counted socket's own count. */
  counted: { bytesRead: number };
  base: number;
  /** Start of the current phase in which the client must talk, with the bytes read then; null outside one. */
  phase: { at: number; bytes: number } | null;
  /** Time of the current phase spent with the server busy (ms), and when the current busy spell began. */
  pausedMs: number;
  busySince: number | null;
  done: boolean;
}

function bytesOf(entry: Entry): number {
  return entry.base + entry.counted.bytesRead;
}

export class ConnectionGuard {
  private readonly entries = new Set<Entry>();
  /** Unauthenticated entries, oldest first (a Set keeps insertion order). */
  private readonly unauthenticated = new Set<Entry>();
  private readonly perAddress = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly limits: ConnectionLimits,
    private readonly events: GuardEvents = { refused() {}, closed() {} },
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get unauthenticatedCount(): number {
    return this.unauthenticated.size;
  }

  /**
   * Admits a newly accepted socket, or says why not (the caller answers and closes). Every admitted
   * socket is released when it closes.
   */
  admit(socket: Socket, close: CloseSession): GuardTicket | GuardRefusal {
    const address = socket.remoteAddress ?? 'unknown';
    const key = addressKey(address);
    if (this.entries.size >= this.limits.maxConnections) return this.refuse('too-many-connections');
    const fromAddress = this.perAddress.get(key) ?? 0;
    if (fromAddress >= this.limits.maxPerAddress) return this.refuse('too-many-from-address');
    this.makeRoom(1);
    const at = this.now();
    const entry: Entry = {
      address, key, socket, top: socket, verifying: false, close, isAuthenticated: false, openedAt: at, phase: { at, bytes: 0 }, done: false, counted: socket, base: 0, pausedMs: 0, busySince: null,
      authenticated: () => {
        if (entry.done || entry.isAuthenticated) return;
        entry.isAuthenticated = true;
        entry.phase = null;
        this.unauthenticated.delete(entry);
      },
      loggingIn: (on) => {
        entry.verifying = on;
      },
      awaitRequest: () => {
        if (entry.done) return;
        entry.isAuthenticated = false;
        entry.openedAt = this.now();
        entry.phase = null;
        entry.pausedMs = 0;
        entry.busySince = null;
        // The newest not logged in: evicted last.
        this.unauthenticated.delete(entry);
        this.makeRoom(1);
        this.unauthenticated.add(entry);
      },
      expectData: (on) => {
        if (entry.done) return;
        if (!on) entry.phase = entry.isAuthenticated ? null : entry.phase;
        else if (!entry.phase) {
          entry.phase = { at: this.now(), bytes: bytesOf(entry) };
          entry.pausedMs = 0;
        }
      },
      busy: (on) => {
        const t = this.now();
        if (on) entry.busySince ??= t;
        else if (entry.busySince !== null) {
          entry.pausedMs += t - entry.busySince;
          entry.busySince = null;
        }
      },
      countWith: (counted) => {
        entry.base = bytesOf(entry) - counted.bytesRead;
        entry.counted = counted;
        // The handshake's bytes are TLS overhead, not the client talking: they buy no credit, the
        // phase under way starts again from here.
        if (entry.phase) {
          entry.phase = { at: this.now(), bytes: bytesOf(entry) };
          entry.pausedMs = 0;
        }
        const destroy = counted.destroy;
        if (typeof destroy === 'function') entry.top = { destroy: () => destroy.call(counted) };
      },
    };
    this.entries.add(entry);
    this.unauthenticated.add(entry);
    // Read again: making room may have closed connections from this very address (a stale count
    // here kept every such eviction counted forever, and the address was refused in the end).
    this.perAddress.set(key, (this.perAddress.get(key) ?? 0) + 1);
    socket.once('close', () => this.release(entry));
    this.timer ??= setInterval(() => this.sweep(), 500).unref();
    return entry;
  }

  /**
   * Keeps the unauthenticated share for `coming` more: connections not logged in are closed
   * (`evictable`), except those whose credentials are being checked (when all are, the newcomer is let in over the share;
   * `maxConnections` still bounds the total).
   */
  private makeRoom(coming: number): void {
    while (this.unauthenticated.size + coming > this.limits.maxUnauthenticated) {
      const victim = this.evictable();
      if (!victim) return;
      this.giveUp(victim, 'unauthenticated-evicted');
    }
  }

  /**
   * The connection to close for a newcomer: the oldest of the address (IPv6: /64) holding the most
   * connections not logged in, ties going to the address whose oldest is oldest. Evicting simply the
   * oldest let a continuous flood push out a doctor who had connected but not yet sent LOGIN or AUTH
   * (a TLS handshake, a greeting read): once the flood had brought `maxUnauthenticated` newer
   * sockets the doctor was the oldest. A flood comes from few addresses, or many from each, and
   * closes its own; a doctor alone on an address goes only when every address holds as few.
   * Never a connection whose credentials are being checked.
   */
  private evictable(): Entry | undefined {
    const byKey = new Map<string, { count: number; oldest: Entry }>();
    for (const entry of this.unauthenticated) {
      if (entry.verifying) continue;
      const seen = byKey.get(entry.key);
      if (seen) seen.count++;
      else byKey.set(entry.key, { count: 1, oldest: entry }); // the Set keeps age order: the first is the oldest
    }
    let best: { count: number; oldest: Entry } | undefined;
    for (const candidate of byKey.values()) {
      if (!best || candidate.count > best.count || (candidate.count === best.count && candidate.oldest.openedAt < best.oldest.openedAt)) best = candidate;
    }
    return best?.oldest;
  }

  private refuse(reason: GuardRefusal): GuardRefusal {
    this.events.refused(reason);
    return reason;
  }

  private release(entry: Entry): void {
    if (!this.entries.delete(entry)) return;
    entry.done = true;
    this.unauthenticated.delete(entry);
    const left = (this.perAddress.get(entry.key) ?? 1) - 1;
    if (left > 0) this.perAddress.set(entry.key, left);
    else this.perAddress.delete(entry.key);
    if (!this.entries.size && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private giveUp(entry: Entry, reason: GuardCloseReason): void {
    // Counted out at once (a client that stopped reading may keep the socket a while after our BYE).
    this.release(entry);
    this.events.closed(reason);
    try {
      entry.close(reason);
    } catch {
      entry.top.destroy();
    }
    // Whatever the polite close does, the socket goes within 2 s: the topmost one. Destroying a TCP
    // socket under a TLS wrap in its handshake can crash Node (smtp-server's implicit TLS reads the
    // TLS socket's protocol in its 'close' handler, after the parent freed it: a segfault).
    setTimeout(() => entry.top.destroy(), 2000).unref();
  }

  /** Deadlines and rates, checked twice a second over the live connections. */
  private sweep(): void {
    const t = this.now();
    const { preAuthSeconds, minBytesPerSecond, rateGraceSeconds } = this.limits;
    for (const entry of [...this.entries]) {
      // Not while its credentials are being checked: that time is the server's (a loaded server's
      // key unwrap must not cost a doctor the login); past the deadline it goes once the check ends.
      if (!entry.isAuthenticated && !entry.verifying && t - entry.openedAt >= preAuthSeconds * 1000) {
        this.giveUp(entry, 'pre-auth-deadline');
        continue;
      }
      const phase = entry.phase;
      if (!phase || minBytesPerSecond <= 0) continue;
      if (entry.busySince !== null) continue;
      const seconds = (t - phase.at - entry.pausedMs) / 1000;
      if (seconds < rateGraceSeconds) continue;
      if (bytesOf(entry) - phase.bytes < minBytesPerSecond * seconds) this.giveUp(entry, 'too-slow');
    }
  }

  /** Stops the sweep (the server is closing). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
