/** Public API of the IMAP module. */
export { createImapServer, type ImapServer, type ImapServerOptions } from './server.js';
export type * from './backend.js';
export { DEFAULT_LIMITS, type AuthEvent, type ImapLimits, type ImapLogger } from './types.js';
export { ImapError, ImapErrorCode } from './errors.js';
export { canonicalMailboxName, HIERARCHY_DELIMITER } from './mailbox-name.js';
export { analyseMessage, MESSAGE_META_VERSION } from './mime/structure.js';
