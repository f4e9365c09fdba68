/**
 * Puts a ConnectionGuard (src/net/connection-guard.ts) in front of an HTTP or HTTPS listener (the
 * health/metrics/autodiscover listener, the record-server API, the record console): the same caps in
 * total and per address, deadline and minimum rate as the mail listeners (issue 27, "on every
 * listener"). HTTP has no login of its own, so for the guard a connection is "not logged in" while
 * it waits for a request head (fresh, or idle between keep-alive requests), and "in" while a request
 * is being received or answered:
 * - the deadline (`preAuthSeconds`) is the time to a complete request head, from the connection or
 *   from the end of the previous answer;
 * - the rate is judged from the connection to its first request head, and while a request body is
 *   received (a browser's idle keep-alive connection is not judged: the deadline and Node's
 *   keepAliveTimeout close it);
 * - at the `maxUnauthenticated` share, a connection waiting for a request (the oldest of the busiest address) is closed for the
 *   newcomer; a request being received or answered is never cut short to make room.
 *
 * Refused sockets never reach the HTTP server: the server's own `connection` listeners are called
 * only for admitted ones. Plain HTTP is answered `503` at once; HTTPS cannot say anything before its
 * handshake, so the socket is closed at once (before any TLS wrap exists: safe).
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ConnectionGuard, GuardCloseReason, GuardRefusal, GuardTicket } from './connection-guard.js';

const REFUSALS: Record<GuardRefusal, string> = {
  'too-many-connections': 'Too many connections, try again later\n',
  'too-many-from-address': 'Too many connections from your address, try again later\n',
};

const CLOSES: Record<GuardCloseReason, { status: string; text: string }> = {
  'pre-auth-deadline': { status: '408 Request Timeout', text: 'Request not received in time, closing connection\n' },
  'too-slow': { status: '408 Request Timeout', text: 'Data arrives too slowly, closing connection\n' },
  'unauthenticated-evicted': { status: '503 Service Unavailable', text: 'Too many idle connections, closing this one\n' },
};

function rawAnswer(status: string, text: string, extra = ''): string {
  return `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\nCache-Control: no-store\r\n${extra}\r\n${text}`;
}

interface Connection {
  ticket: GuardTicket;
  raw: Socket;
  /** The socket the requests come on (the TLS socket once its handshake is done). */
  top: Socket | undefined;
  requests: number;
  /** The answer under way, while there is one. */
  current: http.ServerResponse | undefined;
}

function keyOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
}

function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

export function guardHttpServer(server: http.Server, guard: ConnectionGuard, opts: { tls: boolean }): void {
  const live = new Map<string, Connection>();
  const bySocket = new WeakMap<Socket, Connection>();
  const own = server.listeners('connection') as Array<(socket: Socket) => void>;
  server.removeAllListeners('connection');

  const close = (conn: Connection, reason: GuardCloseReason): void => {
    const how = CLOSES[reason];
    const res = conn.current;
    if (res && !res.headersSent) {
      // A request body arriving too slowly: answered through the server's own response.
      res.writeHead(408, { connection: 'close', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(how.text);
      return;
    }
    if (res || (opts.tls && !conn.top)) {
      // Mid-answer, or still in the TLS handshake (tls.Server copes with its TCP socket going).
      (conn.top ?? conn.raw).destroy();
      return;
    }
    const socket = conn.top ?? conn.raw;
    socket.end(rawAnswer(how.status, how.text, reason === 'unauthenticated-evicted' ? 'Retry-After: 5\r\n' : ''));
  };

  server.on('connection', (socket: Socket) => {
    const ticket = guard.admit(socket, (reason) => {
      const conn = live.get(keyOf(socket));
      if (conn) close(conn, reason);
      else socket.destroy();
    });
    if (typeof ticket === 'string') {
      socket.on('error', () => undefined);
      if (opts.tls) socket.destroy();
      else socket.end(rawAnswer('503 Service Unavailable', REFUSALS[ticket], 'Retry-After: 5\r\n'));
      // Whatever the client does, the socket goes within 2 s.
      setTimeout(() => socket.destroy(), 2000).unref();
      return;
    }
    const key = keyOf(socket);
    const conn: Connection = { ticket, raw: socket, top: opts.tls ? undefined : socket, requests: 0, current: undefined };
    live.set(key, conn);
    if (!opts.tls) bySocket.set(socket, conn);
    socket.once('close', () => live.delete(key));
    for (const listener of own) listener.call(server, socket);
  });

  if (opts.tls) {
    server.on('secureConnection', (tlsSocket: TLSSocket) => {
      const conn = live.get(keyOf(tlsSocket));
      if (!conn) return;
      conn.top = tlsSocket;
      bySocket.set(tlsSocket, conn);
      conn.ticket.countWith(tlsSocket); // clear text from here on, and the socket to destroy
    });
  }

  server.prependListener('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const conn = bySocket.get(req.socket);
    if (!conn) return;
    conn.requests++;
    conn.current = res;
    // A request is in: not evicted, no deadline while it is received and answered.
    conn.ticket.authenticated();
    if (hasBody(req)) {
      conn.ticket.expectData(true);
      const done = (): void => conn.ticket.expectData(false);
      req.once('end', done);
      req.once('close', done);
    }
    res.once('close', () => {
      conn.requests--;
      if (conn.current === res) conn.current = undefined;
      // Kept alive: waiting for the next request, like a fresh connection (deadline, evictable).
      if (!conn.requests && !req.socket.destroyed) conn.ticket.awaitRequest();
    });
  });
}
