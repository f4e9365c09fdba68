/**
 * Puts a ConnectionGuard (src/net/connection-guard.ts) in front of an smtp-server listener, with the
 * library's own hooks: the listening server's `connection` event sees every accepted socket first
 * (caps counted there, before any TLS handshake), `onConnect` answers a refused client with 421, and
 * the session's SMTPConnection says goodbye with 421 when the guard gives up on it. No SMTP state
 * machine of our own.
 *
 * Implicit TLS (465): nothing can be said before the handshake, so a refused connection is closed at
 * once, in the `connection` event. That is safe only because the listening server is then Node's
 * tls.Server (src/smtp/submission/listeners.ts), not smtp-server's own implicit TLS: smtp-server
 * wraps the socket later, and wrapping a socket already destroyed, or destroying it under the wrap
 * during the handshake, ends in its 'close' handler reading the TLS socket's protocol after Node
 * freed it — a segfault of the whole gateway (the cause of the broken IMAP session when this was
 * first tried).
 */
import type { Server, Socket } from 'node:net';
import type { SMTPServer, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { GuardCloseReason, GuardRefusal, GuardTicket, ConnectionGuard } from '../net/connection-guard.js';
import { SmtpReply } from './replies.js';

/** The part of smtp-server's SMTPConnection used here (public methods). */
interface SmtpConnectionLike {
  session?: SMTPServerSession;
  remoteAddress?: string;
  remotePort?: number;
  send(code: number, text: string): void;
  close(): void;
}

const REFUSALS: Record<GuardRefusal, () => SmtpReply> = {
  'too-many-connections': () => new SmtpReply(421, '4.7.0', 'Too many connections, try again later', 'too-many-connections'),
  'too-many-from-address': () => new SmtpReply(421, '4.7.0', 'Too many connections from your address, try again later', 'too-many-from-address'),
};

const GOODBYES: Record<GuardCloseReason, string> = {
  'pre-auth-deadline': '4.4.2 Login took too long, closing connection',
  'too-slow': '4.4.2 Data arrives too slowly, closing connection',
  'unauthenticated-evicted': '4.7.0 Too many connections not logged in, closing this one',
};

/** ::ffff:127.0.0.1 and 127.0.0.1 are one client; smtp-server normalises its addresses the same way. */
function keyOf(address: string | undefined, port: number | undefined): string {
  return `${(address ?? '').replace(/^::ffff:/i, '')}|${port ?? 0}`;
}

export interface SmtpGuard {
  /** Call from onConnect: the refusal to answer (421), or undefined; links the session to its ticket. */
  onConnect(session: SMTPServerSession): SmtpReply | undefined;
  /** The session logged in (AUTH, client certificate, a peer gateway's certificate). */
  authenticated(session: SMTPServerSession): void;
  /** TLS is up (onSecure): its clear-text bytes are what the data rate counts. */
  secured(session: SMTPServerSession, socket: { bytesRead: number }): void;
  /** The server works on the client's command (AUTH): that time does not count against the client's rate. */
  busy(session: SMTPServerSession, on: boolean): void;
  /** Credentials (AUTH, a client certificate) are being checked: not evicted for a newcomer meanwhile. */
  loggingIn(session: SMTPServerSession, on: boolean): void;
  /** DATA: the client must send until the stream ends (minimum rate). */
  data(session: SMTPServerSession, stream: SMTPServerDataStream): void;
  forget(session: SMTPServerSession): void;
}

export interface GuardOptions {
  /** The server that accepts the sockets (default: smtp-server's own net server). */
  listening?: Server;
  /** TLS from the first byte (a tls.Server as `listening`): a refused socket is closed at once, unanswered. */
  implicitTls?: boolean;
}

export function guardSmtpServer(server: SMTPServer, guard: ConnectionGuard, opts: GuardOptions = {}): SmtpGuard {
  const pending = new Map<string, GuardTicket | GuardRefusal>();
  const tickets = new WeakMap<SMTPServerSession, GuardTicket>();
  const connections = (): Iterable<SmtpConnectionLike> => (server as unknown as { connections: Set<SmtpConnectionLike> }).connections;

  (opts.listening ?? server.server).prependListener('connection', (socket: Socket) => {
    const key = keyOf(socket.remoteAddress, socket.remotePort);
    const ticket = guard.admit(socket, (reason) => {
      for (const c of connections()) {
        // The connection's own fields (set when it is created; the session's only once it is greeted).
        if (keyOf(c.remoteAddress, c.remotePort) === key) {
          c.send(421, GOODBYES[reason]);
          c.close();
          return;
        }
      }
      // Still in the TLS handshake (465, tls.Server: safe to destroy), or not greeted yet: nothing can be said.
      socket.destroy();
    });
    if (typeof ticket === 'string' && opts.implicitTls) {
      // Closed now rather than after a handshake the client may never finish (counted in /metrics).
      socket.destroy();
      return;
    }
    pending.set(key, ticket);
    socket.once('close', () => pending.delete(key));
  });

  return {
    onConnect(session) {
      const key = keyOf(session.remoteAddress, session.remotePort);
      const ticket = pending.get(key);
      pending.delete(key);
      if (typeof ticket === 'string') return REFUSALS[ticket]();
      if (ticket) tickets.set(session, ticket);
      return undefined;
    },
    authenticated(session) {
      tickets.get(session)?.authenticated();
    },
    busy(session, on) {
      tickets.get(session)?.busy(on);
    },
    loggingIn(session, on) {
      tickets.get(session)?.loggingIn(on);
    },
    secured(session, socket) {
      tickets.get(session)?.countWith(socket);
    },
    data(session, stream) {
      const ticket = tickets.get(session);
      if (!ticket) return;
      ticket.expectData(true);
      const done = (): void => ticket.expectData(false);
      stream.once('end', done);
      stream.once('close', done);
    },
    forget(session) {
      tickets.delete(session);
    },
  };
}
