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
  /** Where failed logins are counted (a cluster store counts them across nodes); in memory by default. */
  loginFailures?: LoginFailureRepo;
}

export interface ImapServer {
  listen(): Promise<{ starttlsPort?: number; tlsPort?: number }>;
  close(): Promise<void>;
  /** Live connections (for metrics and tests). */
  readonly connectionCount: number;
}

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
  const addressConnections = new Map<string, number>();
  const servers: Server[] = [];

  const accept = (socket: Socket, secure: boolean): void => {
    socket.on('error', (err) => logger.debug({ err: err.message }, 'imap socket error'));
    if (sessions.size >= limits.maxConnections) {
      socket.end('* BYE Too many connections, try again later\r\n');
      return;
    }
    const address = socket.remoteAddress ?? 'unknown';
    const fromAddress = addressConnections.get(address) ?? 0;
    if (fromAddress >= limits.maxConnectionsPerAddress) {
      logger.warn({ remoteAddress: address }, 'imap connection refused: too many from this address');
      socket.end('* BYE Too many connections from your address\r\n');
      return;
    }
    addressConnections.set(address, fromAddress + 1);
    socket.once('close', () => {
      const left = (addressConnections.get(address) ?? 1) - 1;
      if (left > 0) addressConnections.set(address, left);
      else addressConnections.delete(address);
    });
    socket.setNoDelay(true);
    try {
      const session = new ImapSession(socket, secure, ctx);
      sessions.add(session);
      socket.once('close', () => sessions.delete(session));
      session.start();
    } catch (err) {
      logger.error({ err }, 'imap session could not start');
      socket.destroy();
    }
  };

  const plainServer = net.createServer((socket) => accept(socket, false));
  const tlsServer = tls.createServer({ key: options.tls.key, cert: options.tls.cert, minVersion: 'TLSv1.2' }, (socket: TLSSocket) => accept(socket, true));
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
      const closing = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
      await Promise.all([...sessions].map((session) => session.shutdown('Server shutting down')));
      await Promise.all(closing);
    },
    get connectionCount() {
      return sessions.size;
    },
  };
}
