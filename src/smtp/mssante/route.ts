import type { MedgateConfig } from '../../config/schema.js';
import { routeFor, type RouteLookup } from '../outbound/peer-route.js';

/**
 * Where an MSSanté domain's operator listens: `mssante.routes` first (tests, private routes), then
 * the peer table and the domain's MX records as for any peer (src/smtp/outbound/peer-route.ts), the
 * MX hosts on `mssante.mxPort` (25 between operators).
 */
export async function mssanteRouteFor(config: MedgateConfig, domain: string): Promise<RouteLookup> {
  const d = domain.toLowerCase();
  const configured = Object.entries(config.mssante.routes).find(([k]) => k.toLowerCase() === d)?.[1];
  if (configured) {
    const i = configured.lastIndexOf(':');
    return { ok: true, routes: [{ host: configured.slice(0, i), port: Number(configured.slice(i + 1)), via: 'config' }] };
  }
  return routeFor(config, d, { mxPort: config.mssante.mxPort });
}
