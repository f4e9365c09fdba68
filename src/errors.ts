/**
 * Base class of every error medgate raises on purpose. `code` is stable (documented, tested,
 * mapped to SMTP/IMAP replies in one place); `message` is safe to show to a client or an operator:
 * it never carries message content or patient data.
 */
export class MedgateError extends Error {
  readonly code: string;
  /** Extra, non-medical facts for logs and operators (key, expected value, address...). */
  readonly details: Record<string, unknown> | undefined;
  /** The `medgate` command's exit status when this error ends it (1 unless a kind needs its own). */
  readonly exitCode: number;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown; exitCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MedgateError';
    this.code = code;
    this.details = details;
    this.exitCode = options?.exitCode ?? 1;
  }
}

export function isMedgateError(err: unknown): err is MedgateError {
  return err instanceof MedgateError;
}

/**
 * The ways connecting to the database fails before anything runs, each with a stable code and its
 * own exit status (sysexits.h), so a service manager or a script can tell "start the server" from
 * "fix the password" without reading the line.
 */
export const STORE_CONNECT_FAILURES = {
  /** Nothing listens at the address (ECONNREFUSED). */
  refused: { code: 'STORE_CONNECT_REFUSED', exitCode: 69 }, // EX_UNAVAILABLE
  /** The host name does not resolve. */
  'unknown-host': { code: 'STORE_HOST_UNKNOWN', exitCode: 68 }, // EX_NOHOST
  /** Something accepted the connection (or nothing answered) but no PostgreSQL greeting came in time. */
  timeout: { code: 'STORE_CONNECT_TIMEOUT', exitCode: 75 }, // EX_TEMPFAIL
  /** The server refused the user or password (28P01, 28000). */
  auth: { code: 'STORE_AUTH_FAILED', exitCode: 77 }, // EX_NOPERM
  /** The database named in the URL does not exist on the server (3D000). */
  'no-database': { code: 'STORE_DATABASE_MISSING', exitCode: 78 }, // EX_CONFIG
} as const;

export type StoreConnectFailureKind = keyof typeof STORE_CONNECT_FAILURES;

/** The database could not be reached or would not let medgate in: one line saying which and what to do. */
export class StoreConnectError extends MedgateError {
  constructor(readonly kind: StoreConnectFailureKind, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(STORE_CONNECT_FAILURES[kind].code, message, details, { ...options, exitCode: STORE_CONNECT_FAILURES[kind].exitCode });
    this.name = 'StoreConnectError';
  }
}
