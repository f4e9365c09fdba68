/**
 * The ANS-format integration receipt (src/filing/receipts/ans-mdn.ts) takes the original Message-ID
 * from the sender's routing header, a string the sender chose: a CR/LF in it must never become a
 * header field of its own, neither in the receipt nor in its machine-readable parts, in the ANS
 * receipt to an MSSanté sender nor in the sealed RFC 8098 one (build-mdn.ts) (the end-to-end
 * path is test/mssante/receipts.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import { buildAnsMdn } from '../../src/filing/receipts/ans-mdn.js';
import { buildMdn } from '../../src/filing/receipts/build-mdn.js';

const base = {
  reportingHost: 'mx.cabinet-antony.medgate.test', recordServer: 'rmp@cabinet-antony.medgate.test',
  to: 'anne.biologiste@labo-biotest.example', originalSender: 'anne.biologiste@labo-biotest.example',
  messageId: '<mdn-1@cabinet-antony.medgate.test>',
};

/** Field names at the start of a line of `text` (continuation lines start with white space). */
const fieldNames = (text: string): string[] => text.split(/\r?\n/).map((l) => /^([A-Za-z-]+):/.exec(l)?.[1]?.toLowerCase()).filter((n): n is string => !!n);

describe('integration receipts (ANS format, and the sealed RFC 8098 one)', () => {
  it('a Message-ID carrying CR/LF stays one value in every part: no field is added', async () => {
    const forged = '<x@labo-biotest.example>\r\nBcc: victim@elsewhere.example\r\nX-Injected: 1';
    const rows = [{ disposition: 'processed' as const, error: null }, { disposition: 'processed/error' as const, error: 'rights refused' }];
    const built = [
      ...rows.map((row) => buildAnsMdn({ ...base, originalMessageId: forged, row })),
      ...rows.map((row) => buildMdn({ reportingHost: base.reportingHost, from: base.recordServer, to: base.to, recordServer: base.recordServer, originalMessageId: forged, ...row })),
    ];
    for (const mdn of built) {
      const parsed = await simpleParser(await mdn);
      expect(parsed.bcc).toBeUndefined();
      expect(parsed.headers.has('x-injected')).toBe(false);
      // The machine-readable parts (message/disposition-notification, text/rfc822-headers), decoded.
      const parts = parsed.attachments.map((a) => a.content.toString('utf8'));
      expect(parts.length).toBeGreaterThanOrEqual(1);
      for (const part of parts) {
        expect(fieldNames(part)).not.toContain('bcc');
        expect(fieldNames(part)).not.toContain('x-injected');
      }
      expect(parts.join('\n')).toMatch(/^Original-Message-ID: <x@labo-biotest\.example> Bcc: victim@elsewhere\.example X-Injected: 1$/m);
    }
  });
});
