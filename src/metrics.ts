import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

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
}
