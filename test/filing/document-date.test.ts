import { describe, expect, it } from 'vitest';
import { trustedDocumentDate } from '../../src/filing/filing-service.js';

describe('trustedDocumentDate: a sender cannot post-date a document to jump ahead of the record', () => {
  const sealedAt = '2026-11-23T09:14:02.000Z';
  it('keeps a real date up to the sealing day', () => {
    expect(trustedDocumentDate('2026-11-20', sealedAt)).toBe('2026-11-20');
    expect(trustedDocumentDate('2026-11-23', sealedAt)).toBe('2026-11-23');
  });
  it('replaces a future date or a non-date by the sealing day', () => {
    expect(trustedDocumentDate('2099-01-01', sealedAt)).toBe('2026-11-23');
    expect(trustedDocumentDate('9', sealedAt)).toBe('2026-11-23');
    expect(trustedDocumentDate('2026-13-45', sealedAt)).toBe('2026-11-23');
  });
});
