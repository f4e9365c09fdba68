/**
 * parseForExtraction for a message on disk, in bounded memory: mailparser's streaming parser reads
 * the file, and of each attachment only what identity extraction reads is kept — a ZIP (XDM
 * archive, bounded by the zip limits) or HPRIM text (bounded as the in-memory path bounds it).
 * Everything else (the PDF, the image, the DICOM series) is counted and dropped. Same limits, same
 * typed errors as parseForExtraction.
 */
import type { AttachmentStream, HeaderLines, MessageText } from 'mailparser';
import { MedgateError } from '../errors.js';
import { rawSize, readRaw, readRawHead, type RawSource } from '../util/spool-file.js';
import { isHprimCandidate, MAX_HPRIM_BYTES } from './identity/hprim-source.js';
import { DEFAULT_ZIP_LIMITS } from './identity/safe-unzip.js';
import {
  checkAttachmentCount, checkHeaderSection, checkRawSize, DEFAULT_PARSE_LIMITS, headersFromLines, MESSAGE_MALFORMED,
  withParseTimeout, type ExtractionAttachment, type ExtractionInput, type ParseLimits,
} from './parse.js';

/** A ZIP larger than this is not read for XDM metadata (the zip limits bound what it may expand to). */
export const MAX_KEPT_ZIP_BYTES = DEFAULT_ZIP_LIMITS.maxEntryUncompressed;

/** How many decoded bytes of an attachment identity extraction reads: XDM archives and HPRIM text, bounded; nothing of the rest. */
export function extractionKeepLimit(a: { filename?: string; contentType: string }): number {
  if (/\.zip$/i.test(a.filename ?? '') || /zip/i.test(a.contentType)) return MAX_KEPT_ZIP_BYTES;
  if (isHprimCandidate(a.filename, a.contentType)) return MAX_HPRIM_BYTES;
  return 0;
}

export async function parseFileForExtraction(file: RawSource, limits?: Partial<ParseLimits>): Promise<ExtractionInput> {
  const lim: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  checkRawSize(await rawSize(file), lim);
  checkHeaderSection((await readRawHead(file, lim.maxHeaderBytes + 1)).head, lim);

  const { MailParser } = await import('mailparser'); // on first use (parse.ts says why)
  const parser = new MailParser({ skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, checksumAlgo: false });
  let fail: (err: unknown) => void = () => undefined;
  let headerLines: HeaderLines = [];
  let text: string | undefined;
  const attachments: ExtractionAttachment[] = [];
  parser.on('headerLines', (lines: HeaderLines) => {
    // The first event is the message's own header; nested message/rfc822 parts come later.
    if (headerLines.length === 0) headerLines = lines;
  });
  parser.on('data', (data: AttachmentStream | MessageText) => {
    if (data.type === 'text') {
      if (typeof data.text === 'string' && data.text.length > 0) text = data.text;
      return;
    }
    const contentType = (data.contentType || 'application/octet-stream').toLowerCase();
    const out: ExtractionAttachment = { contentType, content: Buffer.alloc(0) };
    if (data.filename) out.filename = data.filename;
    attachments.push(out);
    try {
      checkAttachmentCount(attachments.length, lim);
    } catch (err) {
      fail(err); // an event handler must not throw: the parse is abandoned through the promise
      data.release?.();
      return;
    }
    const keep = extractionKeepLimit(out);
    const chunks: Buffer[] = [];
    let seen = 0;
    data.content.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= keep) chunks.push(chunk);
    });
    // An 'error' with no listener would throw out of the worker: it abandons the parse instead.
    data.content.on('error', (err: unknown) => fail(err));
    data.content.on('end', () => {
      if (seen <= keep) out.content = Buffer.concat(chunks, seen);
      else out.omitted = { size: seen };
      data.release?.();
    });
  });

  const input = readRaw(file);
  const done = new Promise<void>((resolve, reject) => {
    fail = reject;
    parser.on('end', resolve);
    parser.on('error', reject);
    input.on('error', reject);
    // Nobody reads the parser's object stream: 'data' listeners above put it in flowing mode.
  });
  input.pipe(parser);
  try {
    await withParseTimeout(done, lim);
  } catch (err) {
    input.destroy();
    parser.destroy();
    if (err instanceof MedgateError) throw err;
    throw new MedgateError(MESSAGE_MALFORMED, 'Message could not be parsed as MIME', undefined, { cause: err });
  }

  const result: ExtractionInput = { headers: headersFromLines(headerLines), attachments };
  if (typeof parser.subject === 'string') result.subject = parser.subject;
  if (text !== undefined) result.textBody = text;
  return result;
}
