import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { ConnectionGuard } from '../net/connection-guard.js';
import { guardHttpServer } from '../net/http-guard.js';

export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> | void;

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  metrics: Metrics;
  /** Returns problems that make the gateway unhealthy (empty = healthy). */
  health: () => Promise<string[]>;
  /** Extra routes by exact path (autoconfig, API...). */
  routes?: Record<string, RouteHandler>;
  /** Extra routes matched whatever the case of the path (keys in lower case): Outlook's autodiscover. */
  caseInsensitiveRoutes?: Record<string, RouteHandler>;
  /** Connection limits (limits.connections.http); none when absent. */
  guard?: ConnectionGuard;
}

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

/** The HTTP listener: /healthz for orchestrators, /metrics for Prometheus, plus registered routes. */
export class HttpServer {
  private server: http.Server | undefined;

  constructor(private readonly o: HttpServerOptions) {}

  async listen(): Promise<number> {
    const server = http.createServer((req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        // The path without its query (it may carry an address), and a code rather than a message.
        const code = (err as { code?: unknown }).code;
        this.o.logger.error({ code: typeof code === 'string' ? code : (err as Error).name, path: (req.url ?? '').split('?')[0] }, 'http handler failed');
        if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal error' }));
        else res.destroy();
      });
    });
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    if (this.o.guard) guardHttpServer(server, this.o.guard, { tls: false });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => { server.off('error', reject); resolve(); });
    });
    return (server.address() as AddressInfo).port;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = url.pathname;
    res.on('finish', () => this.o.metrics.httpRequests.inc({ route: this.knownRoute(route), status: String(res.statusCode) }));
    if (route === '/healthz') {
      const problems = await this.o.health();
      send(res, problems.length ? 503 : 200, 'application/json', JSON.stringify({ status: problems.length ? 'unhealthy' : 'ok', problems }));
      return;
    }
    if (route === '/metrics') {
      send(res, 200, this.o.metrics.registry.contentType, await this.o.metrics.registry.metrics());
      return;
    }
    const found = this.lookup(route);
    if (found) return found.handler(req, res);
    send(res, 404, 'application/json', JSON.stringify({ error: 'not found' }));
  }

  /** A registered route and its canonical path (the key it was registered under). */
  private lookup(path: string): { key: string; handler: RouteHandler } | undefined {
    const exact = this.o.routes && Object.hasOwn(this.o.routes, path) ? this.o.routes[path] : undefined;
    if (exact) return { key: path, handler: exact };
    const key = path.toLowerCase();
    const loose = this.o.caseInsensitiveRoutes && Object.hasOwn(this.o.caseInsensitiveRoutes, key) ? this.o.caseInsensitiveRoutes[key] : undefined;
    return loose ? { key, handler: loose } : undefined;
  }

  /** Bounded label values: unknown paths are counted together, case variants under their route. */
  private knownRoute(path: string): string {
    return path === '/healthz' || path === '/metrics' ? path : this.lookup(path)?.key ?? 'other';
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.o.guard?.stop();
    await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); });
  }
}
