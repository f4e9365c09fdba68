/**
 * The seal path's parse for identity extraction: the one-pass scan (mime-scan.ts), bounded as the
 * mailparser paths are bounded, or mailparser when the scan hands the message on. Same limits, same
 * typed errors, same ExtractionInput as parseFileForExtraction — of each attachment only what
 * extraction reads is kept, whether the message is in memory or on disk.
 */
import { rawSize, readRaw, readRawHead, type RawSource } from '../util/spool-file.js';
import { scanForExtraction } from './mime-scan.js';
import { checkHeaderSection, checkRawSize, DEFAULT_PARSE_LIMITS, parseForExtraction, withParseTimeout, type ExtractionInput, type ParseLimits } from './parse.js';
import { extractionKeepLimit, parseFileForExtraction } from './parse-stream.js';

/** A submission in memory. */
export async function parseSubmission(raw: Buffer, limits?: Partial<ParseLimits>): Promise<ExtractionInput> {
  const lim: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  checkRawSize(raw.length, lim);
  checkHeaderSection(raw, lim);
  const scanned = await withParseTimeout(scanForExtraction(raw, lim, extractionKeepLimit), lim);
  if (scanned) return scanned;
  const parsed = await parseForExtraction(raw, lim);
  // As the scan (and the file path) would have it: only what extraction reads.
  for (const a of parsed.attachments) {
    if (a.content.length > extractionKeepLimit(a)) {
      a.omitted = { size: a.content.length };
      a.content = Buffer.alloc(0);
    }
  }
  return parsed;
}

/** A submission spooled to disk, read in bounded memory. */
export async function parseSubmissionFile(file: RawSource, limits?: Partial<ParseLimits>): Promise<ExtractionInput> {
  const lim: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  checkRawSize(await rawSize(file), lim);
  checkHeaderSection((await readRawHead(file, lim.maxHeaderBytes + 1)).head, lim);
  const input = readRaw(file);
  const scanned = await withParseTimeout(scanForExtraction(input, lim, extractionKeepLimit), lim, () => input.destroy()).finally(() => input.destroy());
  return scanned ?? parseFileForExtraction(file, lim);
}
