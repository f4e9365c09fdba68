/**
 * X.509 for medgate: a local test CA standing in for IGC-Santé (issue, revoke, CRL) and chain + CRL
 * validation of the certificates peers and users present.
 */
export { createTestCa, loadTestCa, type CreateTestCaOptions } from './ca-init.js';
export { normalizeSerial, type IssuedCertificate, type IssuedRecord, type TestCa } from './test-ca.js';
export type { IssueRequest } from './issue-request.js';
export type { CrlOptions } from './crl-builder.js';
export { caPaths, REVOCATION_REASONS, type CaPaths, type RevocationReason } from './ca-files.js';
export { CERTIFICATE_PROFILES, EKU, type CertificateProfile, type IssuedKeyType } from './profiles.js';
export {
  validateCertificate,
  type CertValidation,
  type CertValidationFailureCode,
  type ValidateCertificateOptions,
} from './validate.js';
export { fingerprint256, parseCertificate, readCertificateInfo, type CertificateInfo } from './cert-info.js';
export { derToPem, pemToDer, splitPemBlocks, type PemBlock } from './pem.js';
export { PkiError, PkiErrorCode } from './errors.js';
export { isSmimeEncryptionCertificate } from './smime-capability.js';
export { readCrlFiles, CRL_UNAVAILABLE_REASON, type CrlFiles } from './crl-files.js';
export { readTrustFiles, type TrustMaterial } from './trust-files.js';
export { ensureGatewayTls, type GatewayTls } from './gateway-tls.js';
export { TrustStore } from './trust-store.js';
export { presentedChainPem } from './peer-chain.js';
