import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { CRL_FILE_STATES, crlStates } from './pki/crl-status.js';
import { ConnectionGuard, type ConnectionLimits } from './net/connection-guard.js';
import v8 from 'node:v8';
import type { Store } from './store/types.js';

/** Prometheus metrics for one gateway process. Labels carry decisions and codes, never people. */
export class Metrics {
  readonly registry = new Registry();
  readonly up = new Gauge({ name: 'medgate_up', help: '1 while the gateway serves', registers: [this.registry] });
  readonly httpRequests = new Counter({
    name: 'medgate_http_requests_total', help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const, registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'medgate_decisions_total', help: 'Security decisions by action and outcome',
    labelNames: ['action', 'outcome'] as const, registers: [this.registry],
  });

  readonly connectionsRefused = new Counter({
    name: 'medgate_connections_refused_total', help: 'Connections refused at accept by listener family and limit',
    labelNames: ['listener', 'reason'] as const, registers: [this.registry],
  });
  readonly connectionsClosed = new Counter({
    name: 'medgate_connections_closed_total', help: 'Connections closed by a limit (pre-auth deadline, too slow, evicted unauthenticated)',
    labelNames: ['listener', 'reason'] as const, registers: [this.registry],
  });
  private readonly guards = new Map<string, ConnectionGuard>();

  constructor() {
    const guards = this.guards;
    new Gauge({
      name: 'medgate_connections', help: 'Open connections by listener family, in total and not yet logged in',
      labelNames: ['listener', 'state'] as const, registers: [this.registry],
      collect() {
        for (const [listener, guard] of guards) {
          this.set({ listener, state: 'total' }, guard.size);
          this.set({ listener, state: 'unauthenticated' }, guard.unauthenticatedCount);
        }
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'medgate_' });
  }

  /**
   * The configured CRL files by state, read at each scrape. `medgate_crl_unavailable` is 1 while
   * any of them is missing, unreadable or stale: certificates of its issuer then get 4xx (retry).
   */
  watchRevocation(crlFiles: string[]): void {
    new Gauge({
      name: 'medgate_crl_files', help: 'Configured CRL files (pki.crls) by state: current, missing, unreadable, stale (past nextUpdate)',
      labelNames: ['state'] as const, registers: [this.registry],
      collect() {
        const states = crlStates(crlFiles);
        for (const state of CRL_FILE_STATES) this.set({ state }, states[state]);
      },
    });
    new Gauge({
      name: 'medgate_crl_unavailable', help: '1 while a configured CRL is missing, unreadable or stale: certificates it covers are refused with 4xx until it is current again',
      registers: [this.registry],
      collect() {
        const states = crlStates(crlFiles);
        this.set(states.missing + states.unreadable + states.stale > 0 ? 1 : 0);
      },
    });
  }

  /**
   * Memory by thread (issue 31), read at each scrape: the main thread's V8 heap, its malloced zone
   * memory (the optimising compiler's and parser's zones, which V8's compiler threads fill) and its
   * buffers outside the heap; each sealing thread's heap and buffers. RSS (process_resident_memory_bytes)
   * minus these is native: code, TLS, SQLite, the allocator's arenas.
   */
  watchThreads(sealing: { heapStatistics(): Promise<Array<{ used: number; total: number; external: number; malloced: number }>> }): void {
    new Gauge({
      name: 'medgate_thread_memory_bytes',
      help: 'Memory by thread: thread=main|sealing (all sealing threads summed), kind=heap_used|heap_total|external|zones',
      labelNames: ['thread', 'kind'],
      registers: [this.registry],
      async collect() {
        const h = v8.getHeapStatistics();
        this.set({ thread: 'main', kind: 'heap_used' }, h.used_heap_size);
        this.set({ thread: 'main', kind: 'heap_total' }, h.total_heap_size);
        this.set({ thread: 'main', kind: 'external' }, h.external_memory);
        this.set({ thread: 'main', kind: 'zones' }, h.malloced_memory);
        const workers = await sealing.heapStatistics();
        const sum = (k: 'used' | 'total' | 'external' | 'malloced') => workers.reduce((n, w) => n + w[k], 0);
        this.set({ thread: 'sealing', kind: 'heap_used' }, sum('used'));
        this.set({ thread: 'sealing', kind: 'heap_total' }, sum('total'));
        this.set({ thread: 'sealing', kind: 'external' }, sum('external'));
        this.set({ thread: 'sealing', kind: 'zones' }, sum('malloced'));
      },
    });
  }

  /** A listener family's connection guard, counted in /metrics under `listener`. */
  connectionGuard(listener: string, limits: ConnectionLimits): ConnectionGuard {
    const guard = new ConnectionGuard(limits, {
      refused: (reason) => this.connectionsRefused.inc({ listener, reason }),
      closed: (reason) => this.connectionsClosed.inc({ listener, reason }),
    });
    this.guards.set(listener, guard);
    return guard;
  }

  /**
   * How refusals reached the audit trail (src/audit/audit-trail.ts), read at each scrape: one record
   * each, counted into their source's aggregate, or counted into a kind's record for the sources
   * beyond `audit.refusals.maxOpenWindows`; and the windows open now.
   */
  watchAuditRefusals(counts: () => { individual: number; aggregated: number; overflow: number; openWindows: number }): void {
    new Gauge({
      name: 'medgate_audit_refusals', help: 'Refusals audited since start, by how: individual (a record each), aggregated (into their source\'s window record), overflow (into the record of sources beyond audit.refusals.maxOpenWindows)',
      labelNames: ['how'] as const, registers: [this.registry],
      collect() {
        const c = counts();
        this.set({ how: 'individual' }, c.individual);
        this.set({ how: 'aggregated' }, c.aggregated);
        this.set({ how: 'overflow' }, c.overflow);
      },
    });
    new Gauge({
      name: 'medgate_audit_refusal_windows', help: 'Refusal aggregation windows open now (audit.refusals)',
      registers: [this.registry],
      collect() {
        this.set(counts().openWindows);
      },
    });
  }

  /** Database pool use and queue depth by recipient state, read at each scrape. */
  watchStore(store: Store): void {
    new Gauge({
      name: 'medgate_store_pool_connections', help: 'Database connections of this node by state (cluster store only)',
      labelNames: ['state'] as const, registers: [this.registry],
      collect() {
        const stats = store.poolStats();
        if (!stats) return;
        this.set({ state: 'total' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
        this.set({ state: 'max' }, stats.max);
      },
    });
    new Gauge({
      name: 'medgate_store_round_trips_total', help: 'Statements this node sent to the database since it started (cluster store only)',
      registers: [this.registry],
      collect() {
        const stats = store.poolStats();
        if (stats) this.set(stats.roundTrips);
      },
    });
    new Gauge({
      name: 'medgate_queue_recipients', help: 'Outbound queue recipients by status',
      labelNames: ['status'] as const, registers: [this.registry],
      async collect() {
        try {
          const depth = await store.queue.depth();
          for (const [status, n] of Object.entries(depth)) this.set({ status }, n);
        } catch {
          // The store is down: /healthz says so; the scrape still answers.
        }
      },
    });
  }
}
