/**
 * `dns.servers` (the DNS servers outbound routing asks, src/smtp/outbound/peer-route.ts) and
 * `mssante.mxPort`: the defaults keep the system's resolvers and port 25; a server that Node's
 * Resolver#setServers could not take is refused at configuration load with what it must be, not at
 * the first delivery.
 */
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';

const dns = configSchema.shape.dns;
const mssante = configSchema.shape.mssante;

describe('dns.servers and mssante.mxPort', () => {
  it('default to the system resolvers and port 25', () => {
    expect(dns.parse(undefined)).toEqual({ servers: [] });
    expect(mssante.parse({}).mxPort).toBe(25);
  });

  it('take IPv4 and IPv6 addresses, with or without a port', () => {
    const servers = ['192.0.2.53', '127.0.0.1:5353', '2001:db8::53', '[2001:db8::53]:5353'];
    expect(dns.parse({ servers }).servers).toEqual(servers);
  });

  it('refuse a host name, a bad port or a bare IPv6 with a port, saying what a server must be', () => {
    for (const bad of ['resolver.example.fr', '127.0.0.1:0', '127.0.0.1:70000', '2001:db8::53:53x', '[2001:db8::53]', '']) {
      const result = dns.safeParse({ servers: [bad] });
      expect(result.success, bad).toBe(false);
      expect(result.error?.issues[0]?.message).toBe('an IP address with an optional port, e.g. 127.0.0.1:5353 or [2001:db8::53]:53');
    }
    expect(mssante.safeParse({ mxPort: 0 }).success).toBe(false);
  });
});
