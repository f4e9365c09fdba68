import type { webcrypto } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as x509 from '@peculiar/x509';
import type { CaState, RevocationReason } from './ca-files.js';
import type { SigningAlgorithm } from './keys.js';
import { derToPem } from './pem.js';

const CRL_NUMBER_OID = '2.5.29.20';
const CRL_REASON_OID = '2.5.29.21';
const DAY_MS = 24 * 60 * 60 * 1000;
export const DEFAULT_CRL_VALIDITY_DAYS = 7;

export interface CrlOptions {
  /** Default: now. */
  thisUpdate?: Date;
  /** Default: thisUpdate + `validityDays`. After it, validators treat the CRL as stale. */
  nextUpdate?: Date;
  /** Default 7. */
  validityDays?: number;
}

const REASON_CODES: Record<RevocationReason, x509.X509CrlReason> = {
  unspecified: x509.X509CrlReason.unspecified,
  keyCompromise: x509.X509CrlReason.keyCompromise,
  caCompromise: x509.X509CrlReason.cACompromise,
  affiliationChanged: x509.X509CrlReason.affiliationChanged,
  superseded: x509.X509CrlReason.superseded,
  cessationOfOperation: x509.X509CrlReason.cessationOfOperation,
  certificateHold: x509.X509CrlReason.certificateHold,
  privilegeWithdrawn: x509.X509CrlReason.privilegeWithdrawn,
};

function reasonCodeExtension(code: x509.X509CrlReason): x509.Extension {
  return new x509.Extension(CRL_REASON_OID, false, new asn1js.Enumerated({ value: code }).toBER());
}

export interface CrlSigner {
  caCert: x509.X509Certificate;
  key: webcrypto.CryptoKey;
  algorithm: SigningAlgorithm;
}

/** A v2 CRL listing every revoked serial, with CRL number and authority key identifier. */
export async function buildCrlPem(signer: CrlSigner, state: CaState, opts: CrlOptions = {}): Promise<string> {
  const thisUpdate = opts.thisUpdate ?? new Date();
  const nextUpdate =
    opts.nextUpdate ?? new Date(thisUpdate.getTime() + (opts.validityDays ?? DEFAULT_CRL_VALIDITY_DAYS) * DAY_MS);
  const caSki = signer.caCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const aki = caSki
    ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(signer.caCert.publicKey);
  const crlNumber = new asn1js.Integer({ value: state.nextCrlNumber }).toBER();
  const crl = await x509.X509CrlGenerator.create({
    // The CA certificate's own encoded name, so issuer matching is byte-exact for every validator.
    issuer: signer.caCert.subjectName,
    thisUpdate,
    nextUpdate,
    signingAlgorithm: signer.algorithm,
    signingKey: signer.key,
    extensions: [aki, new x509.Extension(CRL_NUMBER_OID, false, crlNumber)],
    entries: state.revoked.map((r) => ({
      serialNumber: r.serial,
      revocationDate: new Date(r.revokedAt),
      // RFC 5280 5.3.1 prefers leaving out an "unspecified" reason, but an entry without extensions
      // makes @peculiar/x509 write an empty crlEntryExtensions SEQUENCE (invalid DER that pkijs refuses
      // to parse), and it skips reason 0 itself. So we always write the reasonCode extension ourselves.
      extensions: [reasonCodeExtension(REASON_CODES[r.reason])],
    })),
  });
  return derToPem(new Uint8Array(crl.rawData), 'X509 CRL');
}
