/**
 * Every SMTP reply medgate gives on purpose, in one place: the reply code, the enhanced status code
 * (RFC 3463, written at the start of the text because smtp-server's automatic enhanced codes are
 * off) and wording that tells the sender what to do. Refusals are `SmtpReply` errors: pass one to an
 * smtp-server callback and the client gets exactly that line. Texts never carry message content or
 * patient data — only addresses, limits and stable error codes.
 *
 * `replyForError` maps typed MedgateError codes to replies; anything unknown is a temporary failure
 * (451 4.3.0): the client keeps the message and retries, so nothing is lost.
 * docs/smtp.md lists every reply with its meaning; keep the two in step.
 */
import { MedgateError } from '../errors.js';

export class SmtpReply extends Error {
  /** Read by smtp-server: the numeric reply code. */
  readonly responseCode: number;
  /** Stable short name for logs and audit records (e.g. `sender-not-owned`). */
  readonly reason: string;

  constructor(responseCode: number, enhanced: string, text: string, reason: string) {
    super(`${enhanced} ${text}`);
    this.name = 'SmtpReply';
    this.responseCode = responseCode;
    this.reason = reason;
  }

  /** The full reply line as the client sees it. */
  get line(): string {
    return `${this.responseCode} ${this.message}`;
  }
}

export function isSmtpReply(err: unknown): err is SmtpReply {
  return err instanceof SmtpReply;
}

/** What a directory status is called in a sender refusal. */
export type SenderRefusalReason = 'unknown' | 'suspended' | 'revoked' | 'no-certificate' | 'certificate-expired' | 'certificate-revoked' | 'certificate-invalid';

const SENDER_REASON_TEXT: Record<SenderRefusalReason, string> = {
  unknown: 'unknown in the health directory',
  suspended: 'suspended',
  revoked: 'revoked',
  'no-certificate': 'no certificate in the health directory',
  'certificate-expired': 'certificate expired',
  'certificate-revoked': 'certificate revoked',
  'certificate-invalid': 'certificate not valid',
};

export type RecipientRefusalReason = 'unknown' | 'no-key' | 'mssante-denied' | 'domain-not-whitelisted' | 'suspended' | 'revoked';

/** An address as a reply may quote it: printable ASCII only, at most 320 characters. */
function quoted(address: string): string {
  return address.replace(/[^\x21-\x7e]/g, '?').slice(0, 320);
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

export const replies = {
  // --- success ---
  queued: (id: string): string => `2.0.0 Ok: queued as ${id}`,

  // --- connection, TLS, authentication ---
  authRequired: (): SmtpReply => new SmtpReply(530, '5.7.0', 'Authentication required', 'auth-required'),
  authFailed: (): SmtpReply => new SmtpReply(535, '5.7.8', 'Authentication credentials invalid', 'auth-failed'),
  authRateLimited: (): SmtpReply => new SmtpReply(454, '4.7.0', 'Too many failed attempts, try again later', 'auth-rate-limited'),
  authTemporaryFailure: (): SmtpReply => new SmtpReply(454, '4.7.0', 'Temporary authentication failure, try again later', 'auth-temporary-failure'),
  /** AUTH while the database cannot be reached (RFC 4954: 454 for a temporary failure at AUTH). */
  authStoreUnavailable: (): SmtpReply => new SmtpReply(454, '4.3.0', 'The message store is unavailable, try again later', 'store-unavailable'),
  /** The client certificate's revocation cannot be checked now (CRL missing, unreadable or stale): temporary. */
  clientCertificateUnchecked: (): SmtpReply => new SmtpReply(454, '4.7.0',
    'Client certificate cannot be checked for revocation right now (no current CRL); try again later', 'client-certificate-unchecked'),
  clientCertificateRefused: (why: string): SmtpReply => new SmtpReply(554, '5.7.1',
    `Client certificate refused: ${why}; present a certificate issued by the health PKI, or none and use AUTH`, 'client-certificate-refused'),

  // --- MAIL FROM ---
  senderNotOwned: (address: string, account: string): SmtpReply => new SmtpReply(553, '5.7.1',
    `<${address}>: sender address not owned by the authenticated account ${account}`, 'sender-not-owned'),
  senderRefused: (address: string, reason: SenderRefusalReason): SmtpReply => new SmtpReply(550, '5.7.1',
    `Sender <${address}> refused: ${SENDER_REASON_TEXT[reason]}`, `sender-${reason}`),

  /** The sender's certificate cannot be checked for revocation now: temporary, the client keeps the message. */
  senderCertificateUnchecked: (address: string): SmtpReply => new SmtpReply(451, '4.7.0',
    `Sender <${address}>: certificate cannot be checked for revocation right now (no current CRL); try again later`, 'sender-certificate-unchecked'),

  // --- RCPT TO ---
  recipientRefused: (address: string, reason: RecipientRefusalReason): SmtpReply => {
    switch (reason) {
      case 'unknown':
        return new SmtpReply(550, '5.1.1', `<${address}>: not in the health directory; medgate never sends without encryption`, 'recipient-unknown');
      case 'no-key':
        return new SmtpReply(550, '5.7.1', `<${address}>: no encryption key known; medgate refuses to send without encryption`, 'recipient-no-key');
      case 'mssante-denied':
        return new SmtpReply(550, '5.7.1', `<${address}>: MSSante mailbox without an encryption key, and this gateway's policy (mssante.outbound: deny) sends nothing protected by transport only`, 'recipient-mssante-denied');
      case 'domain-not-whitelisted':
        return new SmtpReply(550, '5.7.1', `<${address}>: domain ${domainOf(address)} is not in the MSSante whitelist`, 'recipient-domain-not-whitelisted');
      case 'suspended':
      case 'revoked':
        return new SmtpReply(550, '5.7.1', `<${address}>: recipient ${reason} in the health directory`, `recipient-${reason}`);
    }
  },
  tooManyRecipients: (max: number): SmtpReply => new SmtpReply(452, '4.5.3', `Too many recipients (at most ${max} per message); send the rest in another message`, 'too-many-recipients'),

  // --- end of DATA ---
  messageTooBig: (limit: number): SmtpReply => new SmtpReply(552, '5.3.4', `Message too big (limit ${limit} bytes)`, 'message-too-big'),
  malformed: (what: string): SmtpReply => new SmtpReply(554, '5.6.0', `Malformed message: ${what}`, 'message-malformed'),
  patientRequired: (): SmtpReply => new SmtpReply(550, '5.7.1',
    'A record server recipient needs the patient: add an IHE_XDM.ZIP, the X-Medgate-Patient-* header fields, an HPRIM header, ' +
    'or "PATIENT: NOM Prenom JJ/MM/AAAA" in the subject', 'patient-required'),
  rightsRefused: (role: string, reason: string): SmtpReply => new SmtpReply(550, '5.7.1',
    `Refused by the shared-record rights matrix (role ${role}): ${reason.replace(/[^\x20-\x7e]/g, '?')}`, 'rights-refused'),
  notAMessage: (): SmtpReply => new SmtpReply(554, '5.6.0',
    'Not an Internet message: it must start with header fields (From, To, Subject, ...) then a blank line; nothing was accepted', 'not-a-message'),
  fromMissing: (account: string): SmtpReply => new SmtpReply(550, '5.6.0',
    `The message has no From header field: add "From: <${account}>"`, 'from-missing'),
  fromMultiple: (account: string): SmtpReply => new SmtpReply(550, '5.6.0',
    `The From header field must name one address, the sender's <${account}>`, 'from-multiple'),
  fromNotOwned: (from: string, account: string, application: boolean): SmtpReply => new SmtpReply(550, '5.7.1',
    `From <${quoted(from)}> is not an address of the authenticated account ${account}` +
    (application ? ', nor a doctor this application may sign for (submission.signFor)' : '') + '; send with your own address', 'from-not-owned'),
  senderFieldNotOwned: (sender: string, account: string): SmtpReply => new SmtpReply(550, '5.7.1',
    `Sender <${quoted(sender)}> is not the authenticated account ${account}: remove the Sender header field or set it to <${account}>`, 'sender-field-not-owned'),
  noRecipient: (): SmtpReply => new SmtpReply(554, '5.5.1', 'No valid recipients', 'no-recipient'),

  // --- peer relay port (src/smtp/relay): mutual TLS between gateways, sealed messages only ---
  relayTlsRequired: (): SmtpReply => new SmtpReply(530, '5.7.0', 'Must issue a STARTTLS command first', 'relay-tls-required'),
  relayNoClientCertificate: (): SmtpReply => new SmtpReply(530, '5.7.0', 'Peer gateway must present a client certificate', 'relay-no-client-certificate'),
  relayCertificateRefused: (code: string): SmtpReply => new SmtpReply(535, '5.7.1',
    `Peer certificate refused: ${code}${code === 'revoked' ? ' (listed on its issuer\'s current CRL; this connection carries no more mail)' : ''}`, 'relay-certificate-refused'),
  /**
   * The peer's certificate cannot be checked against current revocation data (this gateway's CRL
   * is missing, unreadable or past its nextUpdate): temporary, the peer's queue retries.
   */
  relayRevocationUnavailable: (): SmtpReply => new SmtpReply(451, '4.7.0',
    'Peer certificate cannot be checked for revocation right now (no current CRL here); try again later', 'relay-revocation-unavailable'),
  // Replies are ASCII (RFC 5321): "MSSante" without the accent on the wire.
  relayNullSender: (): SmtpReply => new SmtpReply(550, '5.7.1', 'Null sender refused: the relay accepts mail only from directory-listed senders', 'relay-null-sender'),
  relayDomainNotWhitelisted: (domain: string): SmtpReply => new SmtpReply(550, '5.7.1', `Domain ${domain} not in the MSSante whitelist`, 'relay-domain-not-whitelisted'),
  relayDomainNotCertified: (domain: string): SmtpReply => new SmtpReply(550, '5.7.1',
    `Sender domain ${domain} is not named in the peer gateway certificate`, 'relay-domain-not-certified'),
  relayOwnDomain: (domain: string): SmtpReply => new SmtpReply(550, '5.7.1', `Sender domain ${domain} is this gateway's own domain: not accepted from a peer`, 'relay-own-domain'),
  relaySenderNotActive: (address: string): SmtpReply => new SmtpReply(550, '5.7.1', `Sender ${address} unknown or not active in the health directory`, 'relay-sender-not-active'),
  relayRecipientNotLocal: (address: string): SmtpReply => new SmtpReply(550, '5.1.1', `Recipient ${address} is not a mailbox of this gateway`, 'relay-recipient-not-local'),
  /**
   * Not medgate/1 and not taken at MSSante intake. With `sender`: plain mail in the name of a sender
   * the directory gives a medgate/1 key. Their gateway always seals, so a plain copy is a downgrade
   * (someone between them and us, or a misrouted copy): refused, and the peer is told how to send it.
   */
  relayNotSealed: (sender?: string): SmtpReply => new SmtpReply(554, '5.7.1', sender
    ? `Only sealed (medgate/1) messages are accepted on the relay port from ${sender}: the health directory lists a medgate/1 key for this sender, so plain mail in their name is refused as a downgrade; send it sealed, through the sender's own medgate gateway`
    : 'Only sealed (medgate/1) messages are accepted on the relay port', 'relay-not-sealed'),
  relayRoutingRefused: (code: string): SmtpReply => new SmtpReply(554, '5.7.0', `Routing header refused: ${code}`, 'relay-routing-refused'),
  relayNotEncrypted: (): SmtpReply => new SmtpReply(554, '5.7.1', 'Only encrypted messages are accepted on the relay port: this S/MIME message is signed but not enveloped', 'relay-not-encrypted'),
  /** The S/MIME signer cannot be checked now (no trust anchor, or no current CRL here): temporary. */
  relaySmimeUnchecked: (): SmtpReply => new SmtpReply(451, '4.7.0',
    'S/MIME signer cannot be checked for revocation right now (no current CRL here); try again later', 'relay-smime-unchecked'),
  relaySmimeRefused: (code: string): SmtpReply => new SmtpReply(554, '5.7.0', `S/MIME signer refused: ${code}`, 'relay-smime-refused'),
  relaySmimeToRecordServer: (): SmtpReply => new SmtpReply(554, '5.7.1',
    'A record server files medgate/1 only (its routing header names the patient): S/MIME without it cannot be filed', 'relay-smime-record-server'),

  // --- anything unexpected ---
  temporaryFailure: (): SmtpReply => new SmtpReply(451, '4.3.0', 'Temporary failure, try again later', 'temporary-failure'),
  /** The database cannot be reached: nothing was committed, the client keeps the message and retries. */
  storeUnavailable: (): SmtpReply => new SmtpReply(451, '4.3.0', 'The message store is unavailable, nothing was accepted; try again later', 'store-unavailable'),
};

/** Typed error codes that mean "the message itself cannot be read" (554 5.6.0). */
function isMalformedCode(code: string): boolean {
  return code.startsWith('MESSAGE_') || code.startsWith('XDM_') || code === 'MALFORMED_STRUCTURE';
}

/**
 * Explicit mappings from MedgateError codes to replies. The SMTP engineers ADD entries here (one
 * line per code); codes not listed fall back to the prefix rules below, then to 451.
 */
const CODE_REPLIES: Record<string, (err: MedgateError, ctx: ReplyContext) => SmtpReply> = {
  CREDENTIALS_WRONG: () => replies.authFailed(),
  LOGIN_RATE_LIMITED: () => replies.authRateLimited(),
  MESSAGE_TOO_LARGE: (_e, c) => replies.messageTooBig(c.maxMessageBytes ?? Number(_e.details?.max ?? 0)),
  NO_RECIPIENT: () => replies.noRecipient(),
  MSSANTE_ENCRYPTED_CONTENT: (e) => new SmtpReply(554, '5.7.1', e.message, 'mssante-encrypted-content'),
  STORE_UNAVAILABLE: () => replies.storeUnavailable(),
};

export interface ReplyContext {
  maxMessageBytes?: number;
}

/**
 * The temporary reply for an error nothing expected (a listener's catch-all): the store being
 * unreachable says so, anything else is the generic 451 4.3.0. AUTH answers with 454 (RFC 4954).
 */
export function replyForUnexpected(err: unknown, stage?: 'auth'): SmtpReply {
  const storeDown = err instanceof MedgateError && err.code === 'STORE_UNAVAILABLE';
  if (stage === 'auth') return storeDown ? replies.authStoreUnavailable() : replies.authTemporaryFailure();
  return storeDown ? replies.storeUnavailable() : replies.temporaryFailure();
}

/** The reply for any error raised while handling a command; unknown errors are temporary failures. */
export function replyForError(err: unknown, ctx: ReplyContext = {}): SmtpReply {
  if (isSmtpReply(err)) return err;
  if (err instanceof MedgateError) {
    const mapped = CODE_REPLIES[err.code];
    if (mapped) return mapped(err, ctx);
    // The message text of a MedgateError is safe to show (no content, no patient data).
    if (isMalformedCode(err.code)) return replies.malformed(`${err.message} [${err.code}]`);
  }
  return replies.temporaryFailure();
}
