/**
 * Base class of every error medgate raises on purpose. `code` is stable (documented, tested,
 * mapped to SMTP/IMAP replies in one place); `message` is safe to show to a client or an operator:
 * it never carries message content or patient data.
 */
export class MedgateError extends Error {
  readonly code: string;
  /** Extra, non-medical facts for logs and operators (key, expected value, address...). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MedgateError';
    this.code = code;
    this.details = details;
  }
}

export function isMedgateError(err: unknown): err is MedgateError {
  return err instanceof MedgateError;
}
