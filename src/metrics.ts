import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'medgate_' });
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
