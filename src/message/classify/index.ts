export { classifyMessage, type ClassifyInput } from './classify.js';
export { DOCUMENT_TYPES, type DocumentType, type Classification, type ClassifiedDocument, type AuthorClaim, type SenderRole } from './types.js';
export { LOINC_TYPES } from './codes.js';
export { KEYWORD_RULES } from './keywords.js';
export { SUMMARY_SECTIONS, summarySectionOf, summarySections } from './summary-sections.js';
