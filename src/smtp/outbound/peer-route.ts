import { promises as dns } from 'node:dns';
import type { MedgateConfig } from '../../config/schema.js';

export interface PeerRoute {
  host: string;
  port: number;
  via: 'config' | 'mx';
}

/**
 * Where to deliver a remote domain: the configured peer table first (a health network lists its
 * operators explicitly), then the domain's MX records, lowest preference first, on port 25.
 */
export async function routeFor(config: MedgateConfig, domain: string): Promise<PeerRoute[]> {
  const d = domain.toLowerCase();
  const configured = config.peers.filter((p) => p.domain.toLowerCase() === d);
  if (configured.length) return configured.map((p) => ({ host: p.host, port: p.port, via: 'config' as const }));
  try {
    const mx = await dns.resolveMx(d);
    return mx.sort((a, b) => a.priority - b.priority).map((m) => ({ host: m.exchange, port: 25, via: 'mx' as const }));
  } catch {
    return [];
  }
}
