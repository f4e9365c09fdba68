import { promises as dns } from 'node:dns';
import net from 'node:net';
import type { MedgateConfig } from '../../config/schema.js';

export interface PeerRoute {
  /**
   * The host's name: what the peer's certificate must name besides the recipient domain, and the
   * TLS server name sent (SNI). A configured host, an MX host, or the domain itself (implicit MX).
   */
  host: string;
  port: number;
  via: 'config' | 'mx';
  /**
   * MX routes: the address `dns.servers` gave for `host`, connected to as is. Without it (configured
   * routes) `host` is resolved when connecting, with the system's resolvers (nodemailer: DNS, then
   * getaddrinfo, which reads /etc/hosts).
   */
  address?: string;
}

/** Where a domain's mail goes, or why it goes nowhere: a DNS answer that may change (retry) or one that says it never will. */
export type RouteLookup =
  | { ok: true; routes: PeerRoute[] }
  | { ok: false; kind: 'temporary' | 'permanent'; reason: string };

/** Answers that say the name, or the record asked for, does not exist: final, unlike a server failure or a timeout. */
const NXDOMAIN = 'ENOTFOUND';
const NODATA = 'ENODATA';

const resolvers = new Map<string, dns.Resolver>();

/**
 * The resolver route lookups use: `dns.servers`, or the system's (/etc/resolv.conf) when empty. An
 * instance of its own, so that the servers set here change nothing else in the process (the store's
 * host, CRL downloads) and nothing else changes them. A few seconds per try, two tries: a DNS
 * server that does not answer is a retry of the delivery later, not a queue pass held for a minute.
 */
export function routeResolver(config: MedgateConfig): dns.Resolver {
  const key = config.dns.servers.join(' ');
  let resolver = resolvers.get(key);
  if (!resolver) {
    resolver = new dns.Resolver({ timeout: 3000, tries: 2 });
    if (config.dns.servers.length) resolver.setServers(config.dns.servers);
    resolvers.set(key, resolver);
  }
  return resolver;
}

function codeOf(err: unknown): string {
  return (err as { code?: string }).code ?? (err as Error).name;
}

/**
 * The addresses of a mail host, from the same resolver as its MX record (IPv4 first: a host
 * without IPv6 connectivity then does not wait for an IPv6 timeout before its first try). Not
 * getaddrinfo: /etc/hosts and the system's resolvers would answer instead of `dns.servers`.
 */
async function addressesOf(resolver: dns.Resolver, host: string): Promise<{ addresses: string[]; failure?: string }> {
  if (net.isIP(host)) return { addresses: [host] };
  const answers = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
  const addresses: string[] = [];
  let failure: string | undefined;
  for (const a of answers) {
    if (a.status === 'fulfilled') addresses.push(...a.value);
    else if (codeOf(a.reason) !== NXDOMAIN && codeOf(a.reason) !== NODATA) failure ??= codeOf(a.reason);
  }
  return { addresses, ...(failure ? { failure } : {}) };
}

/**
 * Where to deliver a remote domain: the configured peer table first (a health network lists its
 * operators explicitly), then the domain's MX records, lowest preference first, on `mxPort` (25),
 * each MX host at the addresses the same resolver gives for it (RFC 5321 §5.1). Without MX records
 * the domain's own addresses are its implicit MX.
 *
 * What DNS says decides what the queue does (docs/smtp.md, "Route"):
 * - the domain does not exist (NXDOMAIN), has a null MX (RFC 7505), or has neither MX nor address:
 *   permanent, the recipient fails with a report;
 * - a server failure, a refusal, a timeout, or MX hosts without an address (yet): temporary, retried.
 */
export async function routeFor(config: MedgateConfig, domain: string, opts: { mxPort?: number } = {}): Promise<RouteLookup> {
  const d = domain.toLowerCase();
  const configured = config.peers.filter((p) => p.domain.toLowerCase() === d);
  if (configured.length) return { ok: true, routes: configured.map((p) => ({ host: p.host, port: p.port, via: 'config' as const })) };
  const port = opts.mxPort ?? 25;
  const resolver = routeResolver(config);
  let hosts: string[];
  try {
    const mx = await resolver.resolveMx(d);
    if (mx.length === 1 && (mx[0]!.exchange === '' || mx[0]!.exchange === '.')) {
      return { ok: false, kind: 'permanent', reason: `5.1.10 DNS: ${d} accepts no mail (null MX, RFC 7505)` };
    }
    hosts = mx.sort((a, b) => a.priority - b.priority).map((m) => m.exchange.replace(/\.$/, '')).filter((h) => h !== '');
  } catch (err) {
    const code = codeOf(err);
    if (code === NXDOMAIN) return { ok: false, kind: 'permanent', reason: `5.1.2 DNS: ${d} does not exist (NXDOMAIN)` };
    if (code !== NODATA) return { ok: false, kind: 'temporary', reason: `4.4.3 DNS: the MX lookup for ${d} failed (${code})` };
    // No MX record: the domain itself is the mail host (implicit MX).
    const implicit = await addressesOf(resolver, d);
    if (implicit.addresses.length) return { ok: true, routes: implicit.addresses.map((address) => ({ host: d, port, via: 'mx' as const, address })) };
    if (implicit.failure) return { ok: false, kind: 'temporary', reason: `4.4.3 DNS: the address lookup for ${d} failed (${implicit.failure})` };
    return { ok: false, kind: 'permanent', reason: `5.1.2 DNS: ${d} has no MX and no address record` };
  }
  const routes: PeerRoute[] = [];
  const failures: string[] = [];
  for (const [host, found] of await Promise.all(hosts.map(async (h) => [h, await addressesOf(resolver, h)] as const))) {
    routes.push(...found.addresses.map((address) => ({ host, port, via: 'mx' as const, address })));
    if (found.failure) failures.push(`${host}: ${found.failure}`);
  }
  if (routes.length) return { ok: true, routes };
  // MX hosts named but none with an address: their zone may be being fixed; the lifetime bounds the wait.
  return { ok: false, kind: 'temporary', reason: `4.4.4 DNS: no address for the mail hosts of ${d} (${failures.length ? failures.join(', ') : hosts.join(', ')})` };
}
