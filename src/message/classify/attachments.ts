/** Signals from one attachment's own name and type. */
import type { ExtractionAttachment } from '../parse.js';
import { signalFromKeywords } from './keywords.js';
import type { Signal } from './types.js';

const IMAGING_TYPES = /^(application\/dicom|image\/dicom)/i;

export function signalFromAttachment(att: ExtractionAttachment): Signal | undefined {
  if (IMAGING_TYPES.test(att.contentType)) return { type: 'imaging', reason: `attachment type ${att.contentType}` };
  const name = att.filename ?? '';
  if (/\.dcm$/i.test(name) || /^DICOMDIR$/i.test(name)) return { type: 'imaging', reason: 'attachment DICOM file name' };
  // File names: drop the extension so "rapport.pdf" does not read "pdf" as a word that matters.
  return signalFromKeywords(name.replace(/\.[A-Za-z0-9]{1,5}$/, ''), 'attachment name');
}
