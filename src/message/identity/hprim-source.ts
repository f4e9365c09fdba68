/** Where HPRIM text may travel in a message: the text body, or a `.hpr`/`.txt`/text/plain attachment. */
import type { ExtractionInput } from '../parse.js';
import { parseHprim, type HprimDocument } from './hprim.js';
import { decodeUnlabelledText } from './text-decode.js';
import { attachmentLabel } from './xdm.js';

/** HPRIM files beyond this size are not scanned for identity (a lab file is a few KB per patient). */
export const MAX_HPRIM_BYTES = 8 * 1024 * 1024;

export function isHprimCandidate(filename: string | undefined, contentType: string): boolean {
  return /\.(hpr|hprim|hpm|txt)$/i.test(filename ?? '') || contentType.toLowerCase().startsWith('text/plain');
}

export function findHprimDocuments(input: ExtractionInput, now?: Date): HprimDocument[] {
  const docs: HprimDocument[] = [];
  if (input.textBody && input.textBody.length <= MAX_HPRIM_BYTES) {
    const doc = parseHprim(input.textBody, 'body', now);
    if (doc) docs.push(doc);
  }
  for (const [index, att] of input.attachments.entries()) {
    if (att.omitted || !isHprimCandidate(att.filename, att.contentType) || att.content.length > MAX_HPRIM_BYTES) continue;
    const doc = parseHprim(decodeUnlabelledText(att.content), attachmentLabel(att, index), now);
    if (doc) docs.push(doc);
  }
  return docs;
}
