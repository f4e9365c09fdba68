/**
 * Shared by LOGIN and AUTHENTICATE PLAIN: throttling per user+IP (and the backend's per-IP limit), the backend call, the
 * per-user connection limit and the audit hook. Passwords are never logged.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isMedgateError } from '../../errors.js';
import { responseCodeFor } from '../errors.js';
import type { AuthEvent } from '../types.js';
import { no, ok, type CommandResult, type CommandSession } from './types.js';

/** The backend's code for an attempt refused by its per-address limit (see ImapBackend.authenticate). */
export const LOGIN_RATE_LIMITED = 'LOGIN_RATE_LIMITED';

function report(session: CommandSession, event: AuthEvent): void {
  try {
    session.ctx.onAuthEvent(event);
  } catch (err) {
    session.ctx.logger.warn({ session: session.id, err }, 'imap onAuthEvent hook failed');
  }
}

export async function authenticateUser(
  session: CommandSession,
  user: string,
  password: string,
  mechanism: 'LOGIN' | 'PLAIN',
): Promise<CommandResult> {
  // From here to the answer the connection is neither evicted for a newcomer nor closed at the login
  // deadline (src/net/connection-guard.ts).
  session.loggingIn(true);
  try {
    return await verify(session, user, password, mechanism);
  } finally {
    session.loggingIn(false);
  }
}

async function verify(session: CommandSession, user: string, password: string, mechanism: 'LOGIN' | 'PLAIN'): Promise<CommandResult> {
  const { ctx } = session;
  const remoteAddress = session.remoteAddress;
  const base = { user, remoteAddress, mechanism };
  if (await ctx.authLimiter.isBlocked(user, remoteAddress)) {
    report(session, { type: 'throttled', ...base });
    ctx.logger.warn({ session: session.id, remoteAddress }, 'imap login throttled');
    return no('Too many failed login attempts, try again later', 'UNAVAILABLE');
  }
  let userSession;
  try {
    userSession = await ctx.backend.authenticate(user, password, { remoteAddress, mechanism });
  } catch (err) {
    if ((err as { code?: unknown } | null)?.code === LOGIN_RATE_LIMITED) {
      // The backend's per-address limit (password spraying over many accounts): temporary, like ours.
      report(session, { type: 'throttled', ...base, reason: 'address rate-limited' });
      ctx.logger.warn({ session: session.id, remoteAddress }, 'imap login throttled: too many failures from this address');
      return no('Too many failed login attempts from your address, try again later', 'UNAVAILABLE');
    }
    if (isMedgateError(err) && responseCodeFor(err.code) === 'CONTACTADMIN') {
      // Not temporary (a client would try again for ever) and not the password: the administrator's.
      report(session, { type: 'refused', ...base, reason: err.code });
      ctx.logger.error({ session: session.id, code: err.code, ...err.details }, 'imap login refused: the account key is not its owner\'s');
      return no(err.message, 'CONTACTADMIN');
    }
    ctx.logger.error({ session: session.id, err }, 'imap backend authentication failed');
    return no('Authentication is temporarily unavailable', 'UNAVAILABLE');
  }
  if (!userSession) {
    await ctx.authLimiter.recordFailure(user, remoteAddress);
    report(session, { type: 'failure', ...base });
    // Verified (wrong): the slowing delay is no reason to keep a stranger from being evicted.
    session.loggingIn(false);
    if (ctx.limits.authFailureDelayMs > 0) await sleep(ctx.limits.authFailureDelayMs);
    return no('Invalid user name or password', 'AUTHENTICATIONFAILED');
  }
  await ctx.authLimiter.recordSuccess(user, remoteAddress);
  if (!(await session.authenticated(userSession))) {
    report(session, { type: 'refused', ...base, reason: 'too many connections' });
    return no('Too many simultaneous connections for this user', 'LIMIT');
  }
  report(session, { type: 'success', ...base });
  ctx.logger.info({ session: session.id, remoteAddress, mechanism }, 'imap login');
  return ok('Logged in', `CAPABILITY ${session.capabilities().join(' ')}`);
}
