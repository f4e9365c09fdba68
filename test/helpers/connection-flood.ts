/**
 * What the connection-limit suites share (test/e2e/connection-limits.test.ts for the mail
 * listeners, test/e2e/http-connection-limits.test.ts for the HTTP ones): a flood of raw TCP
 * connections from another loopback address, a wait for a condition, and one metric read.
 */
import net from 'node:net';

/** A flood socket and what the server said on it. */
export interface FloodSocket {
  socket: net.Socket;
  said: () => string;
  closed: () => boolean;
}

/** `n` TCP connections to `port` from `from` (a loopback address); each collects what the server says. Added to `opened` for the suite's cleanup. */
export async function floodConnections(o: { port: number; n: number; from: string; opened: net.Socket[] }): Promise<FloodSocket[]> {
  const out = await Promise.all(Array.from({ length: o.n }, () => new Promise<FloodSocket>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: o.port, localAddress: o.from });
    let text = '';
    let closed = false;
    socket.on('data', (d) => { text += d.toString('latin1'); });
    socket.on('error', () => undefined);
    socket.on('close', () => { closed = true; });
    socket.once('connect', () => resolve({ socket, said: () => text, closed: () => closed }));
    socket.once('error', () => resolve({ socket, said: () => text, closed: () => true }));
  })));
  o.opened.push(...out.map((f) => f.socket));
  return out;
}

/** Polls `check` every 100 ms until it holds; throws after `ms`. */
export async function waitUntil(check: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One value of the gateway's /metrics (0 when the series is absent). */
export async function metricValue(httpPort: number, name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').pop()) : 0;
}
