import { MemoryLoginFailures } from '../store/memory-login-failures.js';
import type { LoginFailureRepo } from '../store/types.js';
/**
 * The IMAP server: a clear-text listener that offers STARTTLS (port 143 in production) and an
 * implicit-TLS listener (993). Each connection gets its own ImapSession; a failure in one
 * connection never reaches another one or the process.
 */
import net, { type Server, type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import type { ImapBackend } from './backend.js';
import { AuthLimiter } from './auth-limiter.js';
import { ConnectionGuard, type GuardCloseReason, type GuardRefusal, type GuardTicket } from '../net/connection-guard.js';
import { ImapError, ImapErrorCode } from './errors.js';
import { ImapSession } from './session.js';
import { DEFAULT_LIMITS, type AuthEvent, type ImapLimits, type ImapLogger, type ServerContext } from './types.js';

export interface ImapServerOptions {
  backend: ImapBackend;
  tls: { key: string | Buffer; cert: string | Buffer };
  /** Clear-text port with STARTTLS; omit to disable, 0 for an ephemeral port. */
  starttlsPort?: number;
  /** Implicit TLS port; omit to disable, 0 for an ephemeral port. */
  tlsPort?: number;
  host?: string;
  logger?: ImapLogger;
  limits?: Partial<ImapLimits>;
  /** Audit hook for every login attempt (success, failure, throttled, refused). */
  onAuthEvent?: (event: AuthEvent) => void;
  /** Name shown in the greeting and ID response. */
  serverName?: string;
  /**
   * Connection limits (caps, unauthenticated share, pre-auth deadline, data rate). Default: built
   * from `limits` (maxConnections, maxConnectionsPerAddress, preAuthTimeoutMs; a quarter of the
   * connections for those not logged in; no rate check).
   */
  guard?: ConnectionGuard;
  /** Where failed logins are counted (a cluster store counts them across nodes); in memory by default. */
  loginFailures?: LoginFailureRepo;
}

export interface ImapServer {
  listen(): Promise<{ starttlsPort?: number; tlsPort?: number }>;
  close(): Promise<void>;
  /** Live connections (for metrics and tests). */
  readonly connectionCount: number;
}

const GOODBYES: Record<GuardCloseReason, string> = {
  'pre-auth-deadline': 'Login took too long, closing connection',
  'too-slow': 'Data arrives too slowly, closing connection',
  'unauthenticated-evicted': 'Too many connections not logged in, closing this one',
};

const silentLogger: ImapLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function createImapServer(options: ImapServerOptions): ImapServer {
  const limits: ImapLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const logger = options.logger ?? silentLogger;
  const secureContext = tls.createSecureContext({ key: options.tls.key, cert: options.tls.cert, minVersion: 'TLSv1.2' });
  const ctx: ServerContext = {
    backend: options.backend,
    limits,
    logger,
    secureContext,
    authLimiter: new AuthLimiter(options.loginFailures ?? new MemoryLoginFailures(), limits.maxAuthFailures, limits.authFailureWindowMs),
    onAuthEvent: options.onAuthEvent ?? (() => {}),
    userConnections: new Map(),
    serverName: options.serverName ?? 'medgate IMAP',
  };
  const sessions = new Set<ImapSession>();
  const guard = options.guard ?? new ConnectionGuard({
    maxConnections: limits.maxConnections, maxPerAddress: limits.maxConnectionsPerAddress,
    maxUnauthenticated: Math.max(1, Math.floor(limits.maxConnections / 4)), preAuthSeconds: limits.preAuthTimeoutMs / 1000,
    minBytesPerSecond: 0, rateGraceSeconds: 10,
  });
  const servers: Server[] = [];

  /** A connection let in by the guard, and its session once there is one. */
  interface Admitted { ticket: GuardTicket; session: ImapSession | undefined }

  /** Counts a newly accepted TCP socket against the limits; a refusal is the caller's to say. */
  const admit = (socket: Socket): Admitted | GuardRefusal => {
    socket.on('error', (err) => logger.debug({ err: err.message }, 'imap socket error'));
    const address = socket.remoteAddress ?? 'unknown';
    const admitted: Admitted = { ticket: undefined as unknown as GuardTicket, session: undefined };
    const ticket = guard.admit(socket, (reason) => {
      logger.info({ remoteAddress: address, reason }, 'imap connection closed by the connection limits');
      if (admitted.session) admitted.session.closeFor(GOODBYES[reason]);
      // Not greeted yet (993: still in its TLS handshake, which tls.Server survives losing its socket).
      else socket.destroy();
    });
    if (typeof ticket === 'string') {
      if (ticket === 'too-many-from-address') logger.warn({ remoteAddress: address }, 'imap connection refused: too many from this address');
      return ticket;
    }
    admitted.ticket = ticket;
    return admitted;
  };

  const startSession = (socket: Socket, secure: boolean, admitted: Admitted): void => {
    socket.setNoDelay(true);
    try {
      const started = new ImapSession(socket, secure, ctx);
      admitted.session = started;
      started.ticket = admitted.ticket;
      sessions.add(started);
      socket.once('close', () => sessions.delete(started));
      started.start();
    } catch (err) {
      logger.error({ err }, 'imap session could not start');
      socket.destroy();
    }
  };

  const plainServer = net.createServer((socket) => {
    const admitted = admit(socket);
    if (typeof admitted !== 'string') return startSession(socket, false, admitted);
    socket.end(admitted === 'too-many-from-address' ? '* BYE Too many connections from your address\r\n' : '* BYE Too many connections, try again later\r\n');
  });
  const tlsServer = tls.createServer({
    key: options.tls.key, cert: options.tls.cert, minVersion: 'TLSv1.2',
    // The guard's login deadline closes a handshake never finished (counted in /metrics); this is the backstop.
    handshakeTimeout: Math.min(120_000, guard.limits.preAuthSeconds * 1000 + 2_000),
  }, (socket: TLSSocket) => {
    const key = `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
    const admitted = handshaking.get(key);
    handshaking.delete(key);
    if (!admitted) return void socket.destroy();
    admitted.ticket.countWith(socket); // clear text from here on, and the socket the guard destroys
    startSession(socket, true, admitted);
  });
  /**
   * Implicit TLS (993): counted when the TCP connection is accepted, before its handshake, as 465
   * and HTTPS are. Counted only once secured, sockets stalled in a handshake were held by no cap,
   * per address or in total, and judged for no rate: only the handshake timeout ended them. Nothing
   * can be said before the handshake, so a refused socket is closed at once, unanswered (counted in
   * /metrics); tls.Server copes with its socket going at any point of the handshake.
   */
  const handshaking = new Map<string, Admitted>();
  tlsServer.prependListener('connection', (socket: Socket) => {
    const admitted = admit(socket);
    if (typeof admitted === 'string') return void socket.destroy();
    const key = `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
    handshaking.set(key, admitted);
    socket.once('close', () => { if (handshaking.get(key) === admitted) handshaking.delete(key); });
  });
  for (const server of [plainServer, tlsServer]) {
    server.on('error', (err) => logger.error({ err }, 'imap listener error'));
  }
  tlsServer.on('tlsClientError', (err) => logger.debug({ err: err.message }, 'imap tls handshake failed'));
  const listenOne = (server: Server, port: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new ImapError(ImapErrorCode.LISTEN_FAILED, `IMAP cannot listen on port ${port}: ${err.message}`, undefined, { cause: err }));
      server.once('error', onError);
      server.listen(port, options.host ?? '0.0.0.0', () => {
        server.off('error', onError);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });

  return {
    async listen() {
      const result: { starttlsPort?: number; tlsPort?: number } = {};
      if (options.starttlsPort !== undefined) {
        result.starttlsPort = await listenOne(plainServer, options.starttlsPort);
        servers.push(plainServer);
      }
      if (options.tlsPort !== undefined) {
        result.tlsPort = await listenOne(tlsServer, options.tlsPort);
        servers.push(tlsServer);
      }
      logger.info(result, 'imap listening');
      return result;
    },
    async close() {
      guard.stop();
      const closing = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      await Promise.all([...sessions].map((session) => session.shutdown('Server shutting down')));
      await Promise.all(closing);
    },
    get connectionCount() {
      return sessions.size;
    },
  };
}
