import type * as openpgp from 'openpgp';
import type { SMTPServerSession } from 'smtp-server';
import type { AccountKind, DirectoryEntry } from '../../store/types.js';
import type { AcceptedRecipient } from '../delivery.js';
import type { SmtpGuard } from '../connection-limits.js';

/** Who is logged in on a submission session. The key lives in memory only, for the session. */
export interface SessionIdentity {
  address: string;
  kind: AccountKind;
  via: 'password' | 'certificate';
  pgpKey: openpgp.PrivateKey;
}

export interface SessionState {
  identity?: SessionIdentity;
  /** Set by MAIL FROM once the sender passed every check; cleared at the next MAIL FROM. */
  senderEntry?: DirectoryEntry;
  /** Recipients accepted in this transaction, by lower-cased address. */
  recipients: Map<string, { resolved: AcceptedRecipient; recordServer: boolean }>;
  /** The listener's connection limits (logging in lifts the pre-auth deadline). */
  guard?: SmtpGuard;
}

/**
 * Per-connection state kept beside smtp-server's session object (never on it: smtp-server may log
 * `session.user`, which therefore carries only the address). Entries vanish with the session.
 */
const states = new WeakMap<SMTPServerSession, SessionState>();

export function stateOf(session: SMTPServerSession): SessionState {
  let s = states.get(session);
  if (!s) {
    s = { recipients: new Map() };
    states.set(session, s);
  }
  return s;
}

export function logIn(session: SMTPServerSession, identity: SessionIdentity): void {
  const state = stateOf(session);
  state.identity = identity;
  state.guard?.authenticated(session);
  session.user = { username: identity.address };
}

export function forget(session: SMTPServerSession): void {
  states.delete(session);
}
