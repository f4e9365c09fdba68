import * as pkijs from 'pkijs';
import { readCertificateInfo, type CertificateInfo } from './cert-info.js';
import { PkiError, PkiErrorCode } from './errors.js';
import { splitPemBlocks, type PemBlock } from './pem.js';
import { EKU, PURPOSE_REQUIRED_EKUS, type CertificateProfile } from './profiles.js';
import { ensureCryptoProviders } from './provider.js';

export type CertValidationFailureCode =
  | 'untrusted'
  | 'expired'
  | 'not-yet-valid'
  | 'revoked'
  /**
   * No current revocation data for an issuer in the chain (CRL missing, unreadable or past its
   * nextUpdate): a TEMPORARY condition, answered 4xx so the peer retries, never a verdict on the certificate.
   */
  | 'revocation-unavailable'
  | 'bad-key-usage'
  | 'malformed';

export type CertValidation =
  | {
      ok: true;
      subject: string;
      commonName: string | undefined;
      issuer: string;
      emails: string[];
      dnsNames: string[];
      serial: string;
      notAfter: Date;
      fingerprint256: string;
    }
  | { ok: false; code: CertValidationFailureCode; reason: string };

export interface ValidateCertificateOptions {
  /** PEM texts; each may be a bundle of several certificates. */
  trustAnchorsPem: string[];
  intermediatesPem?: string[];
  /**
   * When given, every certificate below the anchor must be covered by a current CRL of its issuer
   * (one whose nextUpdate has not passed): a missing, unparseable or stale CRL fails as
   * `revocation-unavailable` (temporary).
   * When absent, revocation is not checked.
   */
  crlsPem?: string[];
  /** Validation time; default now. */
  at?: Date;
  /** When given, the certificate's key usage / extended key usage must allow it. */
  purpose?: CertificateProfile;
}

function fail(code: CertValidationFailureCode, reason: string): CertValidation {
  return { ok: false, code, reason };
}

function blocksOf(pems: readonly string[], label: string, what: string): Uint8Array[] {
  const ders: Uint8Array[] = [];
  for (const pem of pems) {
    const blocks = splitPemBlocks(pem).filter((b: PemBlock) => b.label === label);
    if (blocks.length === 0) throw new PkiError(PkiErrorCode.BadEncoding, `${what}: no ${label} PEM block found`);
    ders.push(...blocks.map((b) => b.der));
  }
  return ders;
}

/**
 * The CRLs that parse. CRLs are data that changes at run time (downloaded, replaced): one cut short
 * or garbled is skipped, and a certificate of its issuer then has no current revocation data
 * (`revocation-unavailable`, temporary) rather than the whole check failing as a configuration error.
 */
function readableCrls(pems: readonly string[]): pkijs.CertificateRevocationList[] {
  const out: pkijs.CertificateRevocationList[] = [];
  for (const pem of pems) {
    let blocks: PemBlock[];
    try {
      blocks = splitPemBlocks(pem).filter((b) => b.label === 'X509 CRL');
    } catch {
      continue;
    }
    for (const b of blocks) {
      try {
        out.push(pkijs.CertificateRevocationList.fromBER(toArrayBuffer(b.der)));
      } catch {
        // skipped: see above
      }
    }
  }
  return out;
}

/** Operator-supplied inputs (anchors): a broken one is a configuration error, so it throws. */
function parseTrustInput<T>(ders: Uint8Array[], what: string, parse: (der: Uint8Array) => T): T[] {
  return ders.map((der, i) => {
    try {
      return parse(der);
    } catch (err) {
      throw new PkiError(PkiErrorCode.BadEncoding, `${what} #${i + 1} cannot be parsed`, { index: i }, { cause: err });
    }
  });
}

function toArrayBuffer(der: Uint8Array): ArrayBuffer {
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

function checkPurpose(info: CertificateInfo, purpose: CertificateProfile): string | undefined {
  if (info.isCa) return 'a CA certificate cannot be used as an end-entity certificate';
  // RFC 5280: an absent key usage extension does not restrict the key.
  if (info.keyUsage.length > 0 && !info.keyUsage.includes('digitalSignature')) {
    return `key usage does not allow digital signatures (required for ${purpose})`;
  }
  // RFC 5280: an absent EKU, or anyExtendedKeyUsage, does not restrict the purpose.
  const ekus = info.extendedKeyUsage;
  if (ekus.length === 0 || ekus.includes(EKU.anyExtendedKeyUsage)) return undefined;
  const missing = PURPOSE_REQUIRED_EKUS[purpose].filter((oid) => !ekus.includes(oid));
  return missing.length > 0 ? `extended key usage lacks ${missing.join(', ')} (required for ${purpose})` : undefined;
}

/**
 * Validates an end-entity certificate against trust anchors, optional intermediates and CRLs.
 * Returns a reason for every bad certificate instead of throwing; it throws (PKI_BAD_ENCODING) only
 * when the caller's own trust anchors or CRLs cannot be parsed, which is a configuration error.
 * If `certPem` holds several certificates, the first is the one validated and the others are used
 * as intermediates (the order a TLS peer sends its chain in).
 *
 * Order of checks (the first failure is reported): parse -> the certificate's own dates -> chain to
 * an anchor with signatures, issuers' dates and CRLs (pkijs) -> key usage for `purpose`.
 * Key usage rules follow RFC 5280: an absent keyUsage / extKeyUsage extension does not restrict;
 * when present, keyUsage must include digitalSignature and extKeyUsage the purpose's OIDs
 * (tls-server: serverAuth, tls-client: clientAuth, gateway: both, user: emailProtection).
 */
export async function validateCertificate(certPem: string, opts: ValidateCertificateOptions): Promise<CertValidation> {
  ensureCryptoProviders();
  const at = opts.at ?? new Date();
  const anchors = parseTrustInput(blocksOf(opts.trustAnchorsPem, 'CERTIFICATE', 'trust anchor'), 'trust anchor', (d) =>
    pkijs.Certificate.fromBER(toArrayBuffer(d)),
  );
  const crls = readableCrls(opts.crlsPem ?? []);

  let info: CertificateInfo;
  let chain: pkijs.Certificate[];
  try {
    const presented = splitPemBlocks(certPem).filter((b) => b.label === 'CERTIFICATE');
    const leafBlock = presented[0];
    if (!leafBlock) return fail('malformed', 'no PEM CERTIFICATE block found');
    info = readCertificateInfo(leafBlock.der);
    const intermediateDers = [...presented.slice(1).map((b) => b.der), ...blocksOf(opts.intermediatesPem ?? [], 'CERTIFICATE', 'intermediate')];
    // pkijs takes the LAST certificate of trusted + certs as the one to validate: leaf goes last.
    chain = [...intermediateDers, leafBlock.der].map((d) => pkijs.Certificate.fromBER(toArrayBuffer(d)));
  } catch (err) {
    return fail('malformed', `certificate cannot be parsed: ${err instanceof Error ? err.message : String(err)}`);
  }

  if (at < info.notBefore) return fail('not-yet-valid', `certificate is valid from ${info.notBefore.toISOString()}`);
  if (at > info.notAfter) return fail('expired', `certificate expired on ${info.notAfter.toISOString()}`);

  // CRLs were given but none parses: with no CRL at all pkijs would not check revocation.
  if (opts.crlsPem?.length && !crls.length) return fail('revocation-unavailable', 'revocation cannot be checked: none of the CRLs can be parsed');
  const chainFailure = await verifyChain(chain, anchors, crls, at);
  if (chainFailure) return chainFailure;

  if (opts.purpose) {
    const problem = checkPurpose(info, opts.purpose);
    if (problem) return fail('bad-key-usage', problem);
  }
  return {
    ok: true,
    subject: info.subject,
    commonName: info.commonName,
    issuer: info.issuer,
    emails: info.emails,
    dnsNames: info.dnsNames,
    serial: info.serial,
    notAfter: info.notAfter,
    fingerprint256: info.fingerprint256,
  };
}

/** pkijs result codes we translate; the others all mean "no trustworthy path". */
const PKIJS_DATE_PROBLEM = 8;
const PKIJS_REVOKED = 12;
const PKIJS_NO_REVOCATION_INFO = 11;

async function verifyChain(
  chain: pkijs.Certificate[],
  anchors: pkijs.Certificate[],
  crls: pkijs.CertificateRevocationList[],
  at: Date,
): Promise<CertValidation | undefined> {
  if (anchors.length === 0) return fail('untrusted', 'no trust anchor configured');
  const engine = new pkijs.CertificateChainValidationEngine({ trustedCerts: anchors, certs: chain, crls, checkDate: at });
  let result: pkijs.CertificateChainValidationEngineVerifyResult;
  try {
    result = await engine.verify({ passedWhenNotRevValues: false });
  } catch (err) {
    return fail('untrusted', `chain validation failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (result.result) return undefined;
  switch (result.resultCode) {
    case PKIJS_REVOKED:
      return fail('revoked', 'certificate (or one of its issuers) is listed in its issuer\'s CRL');
    case PKIJS_NO_REVOCATION_INFO:
      return fail('revocation-unavailable', `revocation cannot be checked: no current CRL from the issuer (${result.resultMessage})`);
    case PKIJS_DATE_PROBLEM: {
      const early = [...chain, ...anchors].some((c) => c.notBefore.value > at);
      return early
        ? fail('not-yet-valid', 'an issuing certificate in the chain is not valid yet')
        : fail('expired', 'an issuing certificate in the chain has expired');
    }
    default:
      return fail('untrusted', `no valid chain to a trust anchor: ${result.resultMessage || `code ${result.resultCode}`}`);
  }
}
