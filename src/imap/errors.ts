import { MedgateError } from '../errors.js';

/** Stable error codes of the IMAP module. Backends use the first group to signal expected failures. */
export const ImapErrorCode = {
  NO_SUCH_MAILBOX: 'IMAP_NO_SUCH_MAILBOX',
  MAILBOX_EXISTS: 'IMAP_MAILBOX_EXISTS',
  MAILBOX_NOT_ALLOWED: 'IMAP_MAILBOX_NOT_ALLOWED',
  READ_ONLY: 'IMAP_READ_ONLY',
  OVER_QUOTA: 'IMAP_OVER_QUOTA',
  MESSAGE_GONE: 'IMAP_MESSAGE_GONE',
  // protocol-side
  PARSE: 'IMAP_PARSE',
  TOO_BIG: 'IMAP_TOO_BIG',
  LISTEN_FAILED: 'IMAP_LISTEN_FAILED',
} as const;

export type ImapErrorCodeValue = (typeof ImapErrorCode)[keyof typeof ImapErrorCode];

/** Maps a backend error code to the IMAP response code (RFC 5530) used in the tagged NO. */
export function responseCodeFor(code: string): string | undefined {
  switch (code) {
    case ImapErrorCode.NO_SUCH_MAILBOX:
      return 'NONEXISTENT';
    case ImapErrorCode.MAILBOX_EXISTS:
      return 'ALREADYEXISTS';
    case ImapErrorCode.MAILBOX_NOT_ALLOWED:
      return 'CANNOT';
    case ImapErrorCode.READ_ONLY:
      return 'READ-ONLY';
    case ImapErrorCode.OVER_QUOTA:
      return 'OVERQUOTA';
    case ImapErrorCode.TOO_BIG:
      return 'TOOBIG';
    // The account key stored is not one its owner signed (MetaKey): nothing the user can do.
    case 'ACCOUNT_KEY_UNSIGNED':
    case 'ACCOUNT_KEY_UNTRUSTED':
      return 'CONTACTADMIN';
    // The gateway's store (its database) is unreachable: a temporary condition (RFC 5530).
    case 'STORE_UNAVAILABLE':
      return 'UNAVAILABLE';
    default:
      return undefined;
  }
}

export class ImapError extends MedgateError {
  constructor(code: ImapErrorCodeValue, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'ImapError';
  }
}

/** A syntax error in a client command: answered with BAD, never fatal to the session. */
export class ImapParseError extends ImapError {
  constructor(message: string) {
    super(ImapErrorCode.PARSE, message);
  }
}
