import type { AddressInfo, Server } from 'node:net';
import tls from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import { replies, replyForUnexpected, SmtpReply } from '../replies.js';
import { onAuth, onConnect, onSecure } from './authentication.js';
import { acceptData } from './data-handler.js';
import { logUnexpected, type SubmissionDeps } from './deps.js';
import { checkRecipient } from './recipient-check.js';
import { checkSender } from './sender-check.js';
import { forget, stateOf } from './session-state.js';
import { guardSmtpServer, type SmtpGuard } from '../connection-limits.js';
import type { ConnectionGuard } from '../../net/connection-guard.js';
import { installFastDataScans } from '../data-scan/index.js';
import { closeSmtpServer } from '../close-idle.js';

export interface SubmissionTls {
  certPem: string;
  keyPem: string;
  /** CA certificates named in the client-certificate request. */
  caPem: string[];
}

/**
 * Runs one async stage for an smtp-server callback: its refusal (SmtpReply) goes to the client as
 * is, any other error becomes 451 4.3.0 and a log line with the error code. Nothing a client sends
 * can throw past this point, so the process never crashes on client input.
 */
function run<T>(deps: SubmissionDeps, session: SMTPServerSession, stage: string, work: () => Promise<T>, done: (err: Error | null, value?: T) => void): void {
  work().then((value) => done(null, value), (err: unknown) => {
    if (err instanceof SmtpReply) return done(err);
    logUnexpected(deps, session, stage, err);
    done(replyForUnexpected(err, stage === 'auth' ? 'auth' : undefined));
  });
}

function serverOptions(deps: SubmissionDeps, tls: SubmissionTls, implicitTls: boolean, guarded: () => SmtpGuard): SMTPServerOptions {
  const { config } = deps.ctx;
  return {
    secure: implicitTls,
    name: config.hostname,
    banner: 'medgate submission',
    key: tls.keyPem,
    cert: tls.certPem,
    ca: tls.caPem.length ? tls.caPem : undefined,
    minVersion: config.tls.minVersion,
    // Ask for a client certificate (application accounts log in with it) without requiring one:
    // the chain and CRL check happens in onSecure, against the configured trust anchors.
    requestCert: true,
    rejectUnauthorized: false,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    authRequiredMessage: replies.authRequired().message,
    size: config.limits.maxMessageBytes,
    hideDSN: false,
    disableReverseLookup: true,
    maxRecipients: deps.maxRecipients,
    socketTimeout: 120_000,
    closeTimeout: 10_000,
    logger: false,
    onConnect(session, cb) {
      const refusal = guarded().onConnect(session);
      if (refusal) return cb(refusal);
      stateOf(session).guard = guarded();
      onConnect(session);
      cb();
    },
    onSecure(socket, session, cb) {
      guarded().secured(session, socket);
      guarded().busy(session, true); // the client certificate's check (chain, CRL, account)
      guarded().loggingIn(session, true);
      run(deps, session, 'tls', () => onSecure(deps, socket, session), (err, reply) => {
        guarded().loggingIn(session, false);
        guarded().busy(session, false);
        cb(err ?? reply ?? null);
      });
    },
    onAuth(auth, session, cb) {
      guarded().busy(session, true);
      guarded().loggingIn(session, true);
      run(deps, session, 'auth', () => onAuth(deps, auth, session), (err, res) => {
        guarded().loggingIn(session, false);
        guarded().busy(session, false);
        cb(err, res);
      });
    },
    onMailFrom(address, session, cb) {
      run(deps, session, 'mail', () => checkSender(deps, address, session), (err, reply) => cb(err ?? reply ?? null));
    },
    onRcptTo(address, session, cb) {
      run(deps, session, 'rcpt', () => checkRecipient(deps, address, session), (err, reply) => cb(err ?? reply ?? null));
    },
    onData(stream, session, cb) {
      guarded().data(session, stream);
      run(deps, session, 'data', () => acceptData(deps, stream, session), (err, message) => (err ? cb(err) : cb(null, message)));
    },
    onClose(session) {
      guarded().forget(session);
      forget(session);
    },
  };
}

export interface Listener {
  port: number;
  close(): Promise<void>;
}

/**
 * Implicit TLS (465) is terminated by Node's tls.Server, which hands each secured socket to
 * smtp-server (`secured`: TLS done upstream; onSecure still runs, with the TLS socket). smtp-server's
 * own implicit TLS cannot be closed safely before its handshake ends: a socket it wraps after we
 * destroyed it, or destroyed under its wrap, crashes the process (src/smtp/connection-limits.ts).
 * tls.Server copes with both, so a refused or deadline-expired client is dropped at once.
 */
function implicitTlsServer(deps: SubmissionDeps, tlsFiles: SubmissionTls, server: SMTPServer, guard: ConnectionGuard): Server {
  const { config } = deps.ctx;
  const tlsServer = tls.createServer({
    key: tlsFiles.keyPem,
    cert: tlsFiles.certPem,
    ...(tlsFiles.caPem.length ? { ca: tlsFiles.caPem } : {}),
    minVersion: config.tls.minVersion,
    requestCert: true,
    rejectUnauthorized: false,
    // The login deadline closes a handshake never finished (counted in /metrics); this is the backstop.
    handshakeTimeout: Math.min(120_000, guard.limits.preAuthSeconds * 1000 + 2_000),
  }, (socket) => server.connect(socket));
  tlsServer.on('tlsClientError', (err: Error & { code?: string }) => {
    deps.log.debug({ code: err.code, error: err.name, listener: 'smtpSubmissionTls' }, 'smtp submission TLS handshake failed');
  });
  return tlsServer;
}

/** Starts one submission listener (STARTTLS or implicit TLS) on the configured host and port. */
export function startListener(deps: SubmissionDeps, tls: SubmissionTls, port: number, implicitTls: boolean, guard: ConnectionGuard): Promise<Listener> {
  installFastDataScans(); // DATA read with memchr, not a loop per byte (src/smtp/data-scan)
  let smtpGuard: SmtpGuard | undefined;
  const options = serverOptions(deps, tls, implicitTls, () => smtpGuard!);
  const server = new SMTPServer(implicitTls ? { ...options, secured: true } : options);
  const listening = implicitTls ? implicitTlsServer(deps, tls, server, guard) : server.server;
  smtpGuard = guardSmtpServer(server, guard, { listening, implicitTls });
  // Connection-level errors (TLS handshake failures, resets) are the client's problem: log, go on.
  server.on('error', (err: Error & { code?: string }) => {
    deps.log.debug({ code: err.code, error: err.name, listener: implicitTls ? 'smtpSubmissionTls' : 'smtpSubmission' }, 'smtp submission connection error');
  });
  return new Promise((resolve, reject) => {
    const onListenError = (err: Error): void => reject(err);
    listening.once('error', onListenError);
    listening.listen(port, deps.ctx.config.listen.host, () => {
      listening.off('error', onListenError);
      // The tls.Server's own errors after listening (never fatal): logged like the connections'.
      if (implicitTls) listening.on('error', (err: Error & { code?: string }) => deps.log.warn({ code: err.code, error: err.name, listener: 'smtpSubmissionTls' }, 'smtp submission listener error'));
      resolve({
        port: (listening.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => {
          // A client idle between messages (Outlook, practice software) is told 421 and closed at
          // once, not waited for (src/smtp/close-idle.ts); one sending a message finishes it first.
          if (!implicitTls) { void closeSmtpServer(server).then(() => r()); return; }
          // smtp-server's own net server never listened: closing it only settles the sessions; the
          // TLS server's close waits for them to end.
          void closeSmtpServer(server);
          listening.close(() => r());
        }),
      });
    });
  });
}
