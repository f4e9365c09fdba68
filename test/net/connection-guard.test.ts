import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionGuard, type GuardTicket } from '../../src/net/connection-guard.js';

/**
 * The total cap of a listener family, with real sockets: it is reached only with logged-in
 * sessions (the unauthenticated share is smaller and makes room by closing its oldest), and a
 * logged-in session is never closed to make room for a stranger.
 */
describe('ConnectionGuard: total cap, unauthenticated share', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => { for (const c of cleanup.splice(0)) c(); });

  async function serverWith(guard: ConnectionGuard) {
    const tickets: GuardTicket[] = [];
    const refused: string[] = [];
    const server = net.createServer((socket) => {
      const t = guard.admit(socket, (reason) => socket.end(`BYE ${reason}\n`));
      if (typeof t === 'string') {
        refused.push(t);
        socket.end(`NO ${t}\n`);
        return;
      }
      tickets.push(t);
      socket.write('OK\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => { guard.stop(); server.close(); });
    const port = (server.address() as net.AddressInfo).port;
    const connect = (from = '127.0.0.1') => new Promise<{ socket: net.Socket; said: () => string }>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
      let text = '';
      socket.on('data', (d) => { text += d.toString(); });
      socket.on('error', () => undefined);
      cleanup.push(() => socket.destroy());
      socket.once('data', () => resolve({ socket, said: () => text }));
    });
    return { tickets, refused, connect };
  }

  it('logged-in sessions fill the total; then newcomers are refused, and none of the logged-in is evicted', async () => {
    const guard = new ConnectionGuard({ maxConnections: 5, maxPerAddress: 100, maxUnauthenticated: 2, preAuthSeconds: 60, minBytesPerSecond: 0, rateGraceSeconds: 10 });
    const { tickets, connect } = await serverWith(guard);
    const doctors = [];
    for (let i = 0; i < 4; i++) {
      doctors.push(await connect());
      tickets[i]!.authenticated();
    }
    const stranger1 = await connect();
    expect(stranger1.said()).toBe('OK\n');
    expect(guard.size).toBe(5);
    const stranger2 = await connect();
    expect(stranger2.said()).toBe('NO too-many-connections\n');
    // Strangers within the total take each other's place, never a doctor's.
    expect(doctors.every((d) => d.said() === 'OK\n' && !d.socket.destroyed)).toBe(true);
    tickets[0]!.expectData(false);
    expect(guard.unauthenticatedCount).toBe(1);
  });

  it('at the unauthenticated cap the oldest stranger is closed for the newcomer', async () => {
    const guard = new ConnectionGuard({ maxConnections: 10, maxPerAddress: 100, maxUnauthenticated: 2, preAuthSeconds: 60, minBytesPerSecond: 0, rateGraceSeconds: 10 });
    const { connect } = await serverWith(guard);
    const a = await connect();
    const b = await connect();
    const c = await connect();
    await new Promise((r) => setTimeout(r, 100));
    expect(a.said()).toBe('OK\nBYE unauthenticated-evicted\n');
    expect(b.said()).toBe('OK\n');
    expect(c.said()).toBe('OK\n');
    expect(guard.unauthenticatedCount).toBe(2);
  });

  it('a connection whose credentials are being checked is not evicted: the next oldest is; once checked it may be again', async () => {
    const guard = new ConnectionGuard({ maxConnections: 10, maxPerAddress: 100, maxUnauthenticated: 2, preAuthSeconds: 60, minBytesPerSecond: 0, rateGraceSeconds: 10 });
    const { tickets, connect } = await serverWith(guard);
    const doctor = await connect();
    const b = await connect();
    tickets[0]!.loggingIn(true);
    const c = await connect();
    await new Promise((r) => setTimeout(r, 100));
    expect(doctor.said()).toBe('OK\n');
    expect(b.said()).toBe('OK\nBYE unauthenticated-evicted\n');
    // Every one not logged in is being checked: the newcomer is let in over the share.
    tickets[2]!.loggingIn(true);
    const d = await connect();
    await new Promise((r) => setTimeout(r, 100));
    expect([doctor.said(), c.said(), d.said()]).toEqual(['OK\n', 'OK\n', 'OK\n']);
    expect(guard.unauthenticatedCount).toBe(3);
    // The check failed (wrong password): an ordinary stranger again, oldest first.
    tickets[0]!.loggingIn(false);
    const e = await connect();
    await new Promise((r) => setTimeout(r, 100));
    expect(doctor.said()).toBe('OK\nBYE unauthenticated-evicted\n');
    expect(e.said()).toBe('OK\n');
  });

  it('evictions among one address\'s own connections are counted out: the address is not refused for connections it no longer has', async () => {
    const guard = new ConnectionGuard({ maxConnections: 100, maxPerAddress: 3, maxUnauthenticated: 2, preAuthSeconds: 60, minBytesPerSecond: 0, rateGraceSeconds: 10 });
    const { refused, connect } = await serverWith(guard);
    // Each newcomer beyond 2 closes the oldest; at no time are more than 2 open from the address.
    for (let i = 0; i < 10; i++) await connect();
    await new Promise((r) => setTimeout(r, 100));
    expect(refused).toEqual([]);
    expect(guard.size).toBe(2);
  });

  it('a continuous flood from a few addresses closes its own: a doctor connected but not yet logged in from another address stays', async () => {
    const guard = new ConnectionGuard({ maxConnections: 1000, maxPerAddress: 1000, maxUnauthenticated: 10, preAuthSeconds: 60, minBytesPerSecond: 0, rateGraceSeconds: 10 });
    const { connect } = await serverWith(guard);
    const flood = ['127.0.0.2', '127.0.0.3'];
    for (let i = 0; i < 8; i++) await connect(flood[i % 2]);
    // The doctor connects (reading the greeting, starting TLS, typing the password…).
    const doctor = await connect('127.0.0.1');
    // Five times the share arrives after the doctor: with oldest-first eviction the doctor went at
    // the 10th newcomer.
    const strangers = [];
    for (let i = 0; i < 50; i++) strangers.push(await connect(flood[i % 2]));
    await new Promise((r) => setTimeout(r, 100));
    expect(doctor.said()).toBe('OK\n');
    expect(guard.unauthenticatedCount).toBe(10);
    expect(strangers.filter((s) => s.said().includes('BYE unauthenticated-evicted')).length).toBe(50 - 9);
    // Among equals (one connection per address), the oldest goes: the doctor's turn comes only then.
    const solo = await connect('127.0.0.4');
    const many = [];
    for (let i = 5; i < 14; i++) many.push(await connect(`127.0.0.${i}`));
    await new Promise((r) => setTimeout(r, 100));
    expect(solo.said()).toBe('OK\n');
    expect(doctor.said()).toBe('OK\nBYE unauthenticated-evicted\n');
  });
});
