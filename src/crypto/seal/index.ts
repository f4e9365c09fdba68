/**
 * medgate/1 secure message format (docs/secure-message-format.md): seal a message for its
 * recipients, open it, open only its routing header, inspect what is visible in clear.
 * S/MIME will be a second implementation behind the same functions.
 */
export { RoutingHeader, type RoutingInput, type Transport } from './routing-header.js';
export { seal, type SealOptions, type SealResult } from './seal.js';
export { open, openRoutingHeader, type OpenOptions, type OpenResult, type RoutingResult } from './open.js';
export { inspect, type Inspection } from './inspect.js';
export { isEncryptedMessage } from './header-values.js';
export type { ResolveSigner, ResolvedSigner, Verification } from './pgp.js';
export { CryptoError, CryptoErrorCode, isCryptoError } from '../errors.js';
