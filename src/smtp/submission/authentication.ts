import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession } from 'smtp-server';
import { LOGIN_RATE_LIMITED } from '../../accounts/address-login-limit.js';
import { MedgateError } from '../../errors.js';
import { replies, replyForError, replyForUnexpected, type SmtpReply } from '../replies.js';
import { logUnexpected, refuse, type SubmissionDeps } from './deps.js';
import { logIn } from './session-state.js';

/**
 * Before TLS the AUTH command does not exist for this session: it is neither advertised in EHLO
 * nor accepted, so no password ever crosses the wire in clear. (smtp-server would advertise it.)
 */
export function onConnect(session: SMTPServerSession): void {
  if (!session.secure) session.disabledCommands = ['AUTH'];
}

/**
 * Once TLS is up: AUTH becomes available, and a client certificate, if one was presented, is
 * validated against the trust anchors and CRLs. A certificate that does not validate refuses the
 * session. A valid certificate of an application account logs the session in (no AUTH needed);
 * any other valid certificate is ignored and AUTH is still required.
 */
export async function onSecure(deps: SubmissionDeps, socket: Socket | TLSSocket, session: SMTPServerSession): Promise<SmtpReply | undefined> {
  session.disabledCommands = [];
  const peer = 'getPeerX509Certificate' in socket ? socket.getPeerX509Certificate() : undefined;
  if (!peer) return undefined;
  const pem = peer.toString();
  const validation = await deps.trust.validate(pem, 'tls-client');
  if (!validation.ok && validation.code === 'revocation-unavailable') {
    // Missing or stale revocation data is not a verdict on the certificate: the client retries.
    deps.log.warn({ session: session.id, remote: session.remoteAddress, detail: validation.reason }, 'smtp submission: client certificate revocation unavailable');
    return refuse(deps, session, 'smtp.certificate.refused', replies.clientCertificateUnchecked(), { certificate: validation.code });
  }
  if (!validation.ok) {
    return refuse(deps, session, 'smtp.certificate.refused', replies.clientCertificateRefused(validation.code === 'untrusted' ? 'not issued by a trusted authority' : validation.code),
      { certificate: validation.code });
  }
  try {
    const unlocked = await deps.ctx.accounts.unlockByCertificate(pem, { via: 'smtp', remote: session.remoteAddress });
    logIn(session, { address: unlocked.account.address, kind: unlocked.account.kind, via: 'certificate', pgpKey: unlocked.pgpKey });
    deps.log.info({ session: session.id, remote: session.remoteAddress, account: unlocked.account.address, via: 'certificate' }, 'smtp submission login');
  } catch (err) {
    // Not an application account's certificate: the audit record is written by unlockByCertificate.
    if (!(err instanceof MedgateError && err.code === 'CREDENTIALS_WRONG')) throw err;
  }
  return undefined;
}

/** AUTH PLAIN / LOGIN: checks the password, unlocks the account's key for this session. */
export async function onAuth(deps: SubmissionDeps, auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<SMTPServerAuthenticationResponse> {
  const remote = session.remoteAddress;
  const username = (auth.username ?? '').trim().toLowerCase();
  if (await deps.limiter.isBlocked(username, remote)) {
    throw await refuse(deps, session, 'smtp.auth.refused', replies.authRateLimited(), { account: username });
  }
  // PLAIN may name another identity to act as (authzid): medgate has no proxy logins.
  if (auth.method === 'PLAIN' && auth.authzid && auth.authzid.trim().toLowerCase() !== username) {
    await deps.limiter.recordFailure(username, remote);
    throw await refuse(deps, session, 'smtp.auth.refused', replies.authFailed(), { account: username, authzid: 'differs' });
  }
  try {
    const unlocked = await deps.ctx.accounts.unlock(username, auth.password ?? '', { via: 'smtp', remote });
    logIn(session, { address: unlocked.account.address, kind: unlocked.account.kind, via: 'password', pgpKey: unlocked.pgpKey });
    deps.log.info({ session: session.id, remote, account: unlocked.account.address, via: 'password' }, 'smtp submission login');
    return { user: { username: unlocked.account.address } };
  } catch (err) {
    if (err instanceof MedgateError && err.code === 'CREDENTIALS_WRONG') {
      // unlock() wrote the audit record with the real reason; the client only learns "invalid".
      await deps.limiter.recordFailure(username, remote);
      deps.log.info({ session: session.id, remote, account: username }, 'smtp submission login refused');
      throw replyForError(err);
    }
    if (err instanceof MedgateError && err.code === LOGIN_RATE_LIMITED) {
      // Too many failures from this address across accounts; unlock() wrote the audit record.
      deps.log.warn({ session: session.id, remote }, 'smtp submission login refused: address rate-limited');
      throw replyForError(err);
    }
    logUnexpected(deps, session, 'auth', err);
    throw replyForUnexpected(err, 'auth');
  }
}
