import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../../src/context.js';
import { filingRoutes } from '../../src/filing/index.js';

describe('filing HTTP API', () => {
  let server: http.Server;
  let port: number;
  const audited: Array<{ action: string; outcome: string }> = [];
  beforeAll(async () => {
    // Only the audit trail is reached on the refusal path: the store is never touched without a certificate.
    const ctx = { audit: { record: async (e: { action: string; outcome: string }) => { audited.push(e); } } } as unknown as GatewayContext;
    const routes = filingRoutes(ctx);
    server = http.createServer((req, res) => { void routes[new URL(req.url!, 'http://x').pathname]!(req, res); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('refuses every route without a record-server client certificate (401, audited, no data)', async () => {
    for (const p of ['/api/v1/patients?search=DUP', '/api/v1/patient?id=P0000000000000000', '/api/v1/items?since=0']) {
      const res = await fetch(`http://127.0.0.1:${port}${p}`);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ error: 'a record-server client certificate is required' });
    }
    expect(audited).toHaveLength(3);
    expect(audited.every((a) => a.action === 'filing.api' && a.outcome === 'refused')).toBe(true);
  });
});
