import { isIP } from 'node:net';
import { PkiError, PkiErrorCode } from './errors.js';
import { CERTIFICATE_PROFILES, type CertificateProfile, type IssuedKeyType } from './profiles.js';

export interface IssueRequest {
  profile: CertificateProfile;
  commonName: string;
  /** rfc822Name SANs; required for `user`. */
  emails?: string[];
  /** dNSName SANs (a leading `*.` wildcard is allowed); tls-server/gateway need a DNS name or an IP. */
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Used when notAfter is not given; default 365 days. */
  validityDays?: number;
  /** Default: five minutes ago, so a peer whose clock is slightly behind still accepts it. */
  notBefore?: Date;
  notAfter?: Date;
  /** Default `ecdsa-p256`. RSA is there for S/MIME recipients that only do RSA key transport. */
  keyType?: IssuedKeyType;
}

export interface ValidatedIssueRequest {
  profile: CertificateProfile;
  commonName: string;
  emails: string[];
  dnsNames: string[];
  ipAddresses: string[];
  notBefore: Date;
  notAfter: Date;
  keyType: IssuedKeyType;
}

export const DEFAULT_LEAF_VALIDITY_DAYS = 365;
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

const DNS_NAME = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function bad(message: string, details?: Record<string, unknown>): PkiError {
  return new PkiError(PkiErrorCode.BadRequest, message, details);
}

function isValidDate(d: Date | undefined): d is Date {
  return d instanceof Date && !Number.isNaN(d.getTime());
}

/**
 * Checks an issue request and fills in its defaults. A certificate's notAfter never goes past the
 * CA's own: a leaf that outlives its issuer fails validation the day the CA expires anyway.
 */
export function validateIssueRequest(req: IssueRequest, caNotAfter: Date, now = new Date()): ValidatedIssueRequest {
  if (!CERTIFICATE_PROFILES.includes(req.profile)) {
    throw bad(`unknown certificate profile "${String(req.profile)}"`, { allowed: CERTIFICATE_PROFILES });
  }
  const commonName = (req.commonName ?? '').trim();
  if (commonName.length === 0 || commonName.length > 64) {
    throw bad('commonName must be 1 to 64 characters');
  }
  const emails = (req.emails ?? []).map((e) => e.trim());
  const dnsNames = (req.dnsNames ?? []).map((d) => d.trim().toLowerCase());
  const ipAddresses = (req.ipAddresses ?? []).map((ip) => ip.trim());
  for (const email of emails) if (!EMAIL.test(email)) throw bad('invalid email address in request', { email });
  for (const dns of dnsNames) if (!DNS_NAME.test(dns)) throw bad('invalid DNS name in request', { dns });
  for (const ip of ipAddresses) if (isIP(ip) === 0) throw bad('invalid IP address in request', { ip });

  if ((req.profile === 'tls-server' || req.profile === 'gateway') && dnsNames.length + ipAddresses.length === 0) {
    throw bad(`a ${req.profile} certificate needs at least one DNS name or IP address (clients check it)`);
  }
  if (req.profile === 'user' && emails.length === 0) {
    throw bad('a user certificate needs at least one email address');
  }

  const keyType = req.keyType ?? 'ecdsa-p256';
  if (keyType !== 'ecdsa-p256' && keyType !== 'rsa-2048') throw bad(`unknown key type "${String(keyType)}"`);

  if (req.notBefore !== undefined && !isValidDate(req.notBefore)) throw bad('notBefore is not a valid date');
  if (req.notAfter !== undefined && !isValidDate(req.notAfter)) throw bad('notAfter is not a valid date');
  const validityDays = req.validityDays ?? DEFAULT_LEAF_VALIDITY_DAYS;
  if (!Number.isFinite(validityDays) || validityDays <= 0) throw bad('validityDays must be a positive number');

  const notBefore = req.notBefore ?? new Date(now.getTime() - CLOCK_SKEW_MS);
  let notAfter = req.notAfter ?? new Date(notBefore.getTime() + validityDays * DAY_MS);
  if (notAfter.getTime() > caNotAfter.getTime()) notAfter = new Date(caNotAfter.getTime());
  if (notAfter.getTime() <= notBefore.getTime()) {
    throw bad('notAfter must be later than notBefore (and not after the CA certificate expires)', {
      notBefore: notBefore.toISOString(),
      notAfter: notAfter.toISOString(),
    });
  }
  return { profile: req.profile, commonName, emails, dnsNames, ipAddresses, notBefore, notAfter, keyType };
}
