import type { AddressInfo } from 'node:net';
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
      run(deps, session, 'tls', () => onSecure(deps, socket, session), (err, reply) => {
        guarded().busy(session, false);
        cb(err ?? reply ?? null);
      });
    },
    onAuth(auth, session, cb) {
      guarded().busy(session, true);
      run(deps, session, 'auth', () => onAuth(deps, auth, session), (err, res) => {
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

/** Starts one submission listener (STARTTLS or implicit TLS) on the configured host and port. */
export function startListener(deps: SubmissionDeps, tls: SubmissionTls, port: number, implicitTls: boolean, guard: ConnectionGuard): Promise<Listener> {
  installFastDataScans(); // DATA read with memchr, not a loop per byte (src/smtp/data-scan)
  let smtpGuard: SmtpGuard | undefined;
  const server = new SMTPServer(serverOptions(deps, tls, implicitTls, () => smtpGuard!));
  smtpGuard = guardSmtpServer(server, guard);
  // Connection-level errors (TLS handshake failures, resets) are the client's problem: log, go on.
  server.on('error', (err: Error & { code?: string }) => {
    deps.log.debug({ code: err.code, error: err.name, listener: implicitTls ? 'smtpSubmissionTls' : 'smtpSubmission' }, 'smtp submission connection error');
  });
  return new Promise((resolve, reject) => {
    const onListenError = (err: Error): void => reject(err);
    server.server.once('error', onListenError);
    server.listen(port, deps.ctx.config.listen.host, () => {
      server.server.off('error', onListenError);
      resolve({
        port: (server.server.address() as AddressInfo).port,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
