import { describe, expect, it } from 'vitest';
import { MedgateError } from '../../src/errors.js';
import {
  MESSAGE_HEADER_TOO_LONG,
  MESSAGE_MALFORMED,
  MESSAGE_TOO_LARGE,
  parseForExtraction,
} from '../../src/message/parse.js';
import { composeMessage, sample, SMALL_PDF } from './fixtures.js';

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(MedgateError);
    return (err as MedgateError).code;
  }
}

describe('parseForExtraction', () => {
  it('reads the Outlook subject-tag sample', async () => {
    const parsed = await parseForExtraction(sample('subject-tag-outlook.eml'));
    expect(parsed.subject).toBe("PATIENT: DUPONT Jean 30/01/1959 - demande d'avis cardiologique");
    expect(parsed.headers.get('message-id')).toBe('<demande-avis-0001@cabinet-antony.medgate.test>');
    expect(parsed.textBody).toContain('dyspnée');
    expect(parsed.attachments).toEqual([]);
  });

  it('decodes encoded-word custom headers, keeps the first value, lists attachments', async () => {
    const raw = await composeMessage({
      headers: { 'X-Medgate-Patient-Nom': 'HÉLÈNE-DURAND' },
      attachments: [{ filename: 'CR_consultation.pdf', content: SMALL_PDF, contentType: 'application/pdf' }],
    });
    const withDuplicate = Buffer.concat([Buffer.from('X-Dup: first\r\nX-Dup: second\r\n'), raw]);
    const parsed = await parseForExtraction(withDuplicate);
    expect(parsed.headers.get('x-medgate-patient-nom')).toBe('HÉLÈNE-DURAND');
    expect(parsed.headers.get('x-dup')).toBe('first');
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]?.filename).toBe('CR_consultation.pdf');
    expect(parsed.attachments[0]?.contentType).toBe('application/pdf');
    expect(parsed.attachments[0]?.content.equals(SMALL_PDF)).toBe(true);
  });

  it('refuses oversized messages, overlong header lines and header-less input with typed errors', async () => {
    const raw = sample('subject-tag-outlook.eml');
    expect(await codeOf(parseForExtraction(raw, { maxRawBytes: 100 }))).toBe(MESSAGE_TOO_LARGE);
    const longLine = Buffer.concat([Buffer.from('X-Long: '), Buffer.alloc(70_000, 0x61), Buffer.from('\r\n'), raw]);
    expect(await codeOf(parseForExtraction(longLine))).toBe(MESSAGE_HEADER_TOO_LONG);
    expect(await codeOf(parseForExtraction(Buffer.from('')))).toBe(MESSAGE_MALFORMED);
    expect(await codeOf(parseForExtraction(Buffer.from('\r\n\r\njust a body')))).toBe(MESSAGE_MALFORMED);
  });
});
