import net from 'node:net';
import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { addressKey } from '../../src/net/address-key.js';
import { ConnectionGuard, type GuardTicket } from '../../src/net/connection-guard.js';

/** Issue 27: per-address limits count an IPv6 client by its /64, an IPv4-mapped one as IPv4. */
describe('addressKey', () => {
  it('IPv4 as itself, IPv4-mapped IPv6 (dotted or hex) as the IPv4 address', () => {
    expect(addressKey('192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('::FFFF:C000:0207')).toBe('192.0.2.7');
    expect(addressKey('0:0:0:0:0:ffff:192.0.2.7')).toBe('192.0.2.7');
  });

  it('IPv6 by its /64, whatever the spelling', () => {
    const key = '2001:db8:a:b::/64';
    for (const a of ['2001:db8:a:b::1', '2001:db8:a:b:ffff:ffff:ffff:ffff', '2001:0DB8:000A:000B:0:0:0:2', '2001:db8:a:b:1:2:3.4.5.6', '2001:db8:a:b::1%eth0']) {
      expect(addressKey(a), a).toBe(key);
    }
    expect(addressKey('2001:db8:a:c::1')).toBe('2001:db8:a:c::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1')).toBe('fe80:0:0:0::/64');
    // Not mapped: the NAT64 prefix and IPv4-compatible addresses stay IPv6.
    expect(addressKey('64:ff9b::192.0.2.7')).toBe('64:ff9b:0:0::/64');
  });

  it('no address, or not an IP address: counted as given', () => {
    expect(addressKey(undefined)).toBe('unknown');
    expect(addressKey('')).toBe('unknown');
    expect(addressKey('not-an-address')).toBe('not-an-address');
  });
});

const hasIpv6Loopback = Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.address === '::1'));

describe('per-address cap over real sockets', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => { for (const c of cleanup.splice(0)) c(); });

  async function guarded(host: string, maxPerAddress: number) {
    const guard = new ConnectionGuard({ maxConnections: 100, maxPerAddress, maxUnauthenticated: 50, preAuthSeconds: 60, minBytesPerSecond: 0, rateGraceSeconds: 10 });
    const tickets: GuardTicket[] = [];
    const server = net.createServer((socket) => {
      const t = guard.admit(socket, () => socket.destroy());
      if (typeof t === 'string') { socket.end(`NO ${t}\n`); return; }
      tickets.push(t);
      socket.write('OK\n');
    });
    await new Promise<void>((r) => server.listen(0, host, () => r()));
    cleanup.push(() => { guard.stop(); server.close(); });
    const port = (server.address() as net.AddressInfo).port;
    const connect = (to: string) => new Promise<string>((resolve) => {
      const socket = net.connect({ host: to, port });
      cleanup.push(() => socket.destroy());
      socket.on('error', () => undefined);
      socket.once('data', (d) => resolve(d.toString()));
    });
    return { tickets, connect };
  }

  it.skipIf(!hasIpv6Loopback)('::1: counted under its /64, the cap applies', async () => {
    const { tickets, connect } = await guarded('::1', 2);
    expect(await connect('::1')).toBe('OK\n');
    expect(await connect('::1')).toBe('OK\n');
    expect(await connect('::1')).toBe('NO too-many-from-address\n');
    expect(tickets.map((t) => [t.address, t.key])).toEqual([['::1', '0:0:0:0::/64'], ['::1', '0:0:0:0::/64']]);
  });

  it.skipIf(!hasIpv6Loopback)('a dual-stack listener: an IPv4 client seen as ::ffff:127.0.0.1 is counted as 127.0.0.1', async () => {
    const { tickets, connect } = await guarded('::', 1);
    expect(await connect('127.0.0.1')).toBe('OK\n');
    expect(await connect('127.0.0.1')).toBe('NO too-many-from-address\n');
    expect(tickets[0]!.address).toBe('::ffff:127.0.0.1');
    expect(tickets[0]!.key).toBe('127.0.0.1');
    // Another client (::1) is counted apart.
    expect(await connect('::1')).toBe('OK\n');
  });
});
