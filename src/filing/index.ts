export { ensureFilingDataKey, FilingCipher } from './data-key.js';
export { FilingError, FilingErrorCode } from './errors.js';
export {
  FilingService, documentsOfRouting, type FilingItem, type IngestResult, type MatchOutcome, type PatientView, type PatientSummary, type DocumentView,
  type EmergencyAccess, type FiledDocument,
} from './filing-service.js';
export { checkRights, checkRightsAll, rightsRoleOf, DEFAULT_RIGHTS, type RightsConfig, type RightsDecision, type SenderForRights } from './rights.js';
export { TABS, tabOf, type Tab } from './tabs.js';
export { filingFor, rightsConfigOf } from './context.js';
export { authorMark, firstRefusal, judgeDocuments, writerOf, type AuthorsConfig, type DocumentAuthor, type JudgedDocument } from './authors.js';
export { filingDone, filingFailed, localRecordServers, prepareFiling } from './ingestion.js';
export { recordDenial, type RelayDenial } from './receipts/denial.js';
export { searchForm, type FiledIdentity } from './identity-hashes.js';
export { filingRoutes, recordServerOf } from './http-routes.js';
