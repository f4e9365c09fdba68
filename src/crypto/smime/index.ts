/**
 * S/MIME (RFC 8551, CMS RFC 5652) beside the PGP/MIME medgate/1 body: the same clear outer layer and
 * routing header, the content sealed as CMS for recipients who only have an X.509 certificate.
 * docs/secure-message-format.md §S/MIME.
 */
export { sealSmime, type SmimeSealOptions, type X509Credential } from './seal.js';
export { isSmimeMessage, openSmime, verifyOuterLayers, type OuterLayers, type ResolveX509Signer, type SmimeOpenOptions, type SmimeOpenResult } from './open.js';
export { isSmimeHeader } from './mime.js';
