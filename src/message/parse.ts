/**
 * First step of the message path: raw RFC 5322 bytes → the few things patient identity extraction
 * and classification need (subject, decoded header values, text body, attachments).
 *
 * The work is bounded before mailparser sees a byte: total size, size of the header section and
 * length of any single physical header line are checked on the raw buffer, and parsing is raced
 * against a time limit. Anything that cannot be read as a message gives a MedgateError with a
 * stable code — never a crash and never a hang.
 */
import type { ParsedMail } from 'mailparser';
import { MedgateError } from '../errors.js';
import { decodeEncodedWords } from './identity/encoded-words.js';

export const MESSAGE_MALFORMED = 'MESSAGE_MALFORMED';
export const MESSAGE_TOO_LARGE = 'MESSAGE_TOO_LARGE';
export const MESSAGE_HEADER_TOO_LONG = 'MESSAGE_HEADER_TOO_LONG';
export const MESSAGE_PARSE_TIMEOUT = 'MESSAGE_PARSE_TIMEOUT';

export interface ExtractionAttachment {
  filename?: string;
  contentType: string;
  content: Buffer;
  /**
   * Set when the content was not kept (the seal path keeps only what identity extraction reads —
   * XDM archives, HPRIM text — within bounds); `content` is then empty. `size` is the decoded size,
   * or, for a part the seal path's scan never decodes (mime-scan.ts), the size of its encoded body.
   */
  omitted?: { size: number };
}

export interface ExtractionInput {
  subject?: string;
  /** Lower-cased field names; first occurrence wins; RFC 2047 encoded words decoded. */
  headers: Map<string, string>;
  textBody?: string;
  attachments: ExtractionAttachment[];
}

export interface ParseLimits {
  /** Whole raw message, bytes. */
  maxRawBytes: number;
  /** Header section (up to the first empty line), bytes. */
  maxHeaderBytes: number;
  /** One physical header line (before unfolding), bytes. RFC 5322 says 998; real mail is sloppier. */
  maxHeaderLineLength: number;
  maxAttachments: number;
  /** Wall-clock bound for the MIME parser. */
  timeoutMs: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxRawBytes: 64 * 1024 * 1024,
  maxHeaderBytes: 1024 * 1024,
  maxHeaderLineLength: 64 * 1024,
  maxAttachments: 200,
  timeoutMs: 30_000,
};

export async function parseForExtraction(raw: Buffer, limits?: Partial<ParseLimits>): Promise<ExtractionInput> {
  const lim: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...limits };
  checkRawSize(raw.length, lim);
  checkHeaderSection(raw, lim);

  // Loaded on first use, not with this module: mailparser and its encodings weigh ~10 MB in every
  // sealing thread, where the streamed scan (mime-scan.ts) mostly does without it (issue 31, memory).
  const { simpleParser } = await import('mailparser');
  let parsed: ParsedMail;
  try {
    parsed = await withParseTimeout(simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true, skipTextLinks: true, checksumAlgo: false }), lim);
  } catch (err) {
    if (err instanceof MedgateError) throw err;
    throw new MedgateError(MESSAGE_MALFORMED, 'Message could not be parsed as MIME', undefined, { cause: err });
  }

  const headers = headersFromLines(parsed.headerLines ?? []);
  const attachments = parsed.attachments ?? [];
  checkAttachmentCount(attachments.length, lim);
  const input: ExtractionInput = {
    headers,
    attachments: attachments.map((a) => {
      const out: ExtractionAttachment = { contentType: (a.contentType || 'application/octet-stream').toLowerCase(), content: a.content };
      if (a.filename) out.filename = a.filename;
      return out;
    }),
  };
  if (typeof parsed.subject === 'string') input.subject = parsed.subject;
  if (typeof parsed.text === 'string' && parsed.text.length > 0) input.textBody = parsed.text;
  return input;
}

/** The whole message's size bound, checked before any parser sees a byte. */
export function checkRawSize(size: number, lim: ParseLimits): void {
  if (size > lim.maxRawBytes) {
    throw new MedgateError(MESSAGE_TOO_LARGE, 'Message exceeds the maximum accepted size', { size, max: lim.maxRawBytes });
  }
}

/** `work` raced against the parse time limit (MESSAGE_PARSE_TIMEOUT); `onTimeout` stops what it reads. */
export async function withParseTimeout<T>(work: Promise<T>, lim: ParseLimits, onTimeout?: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new MedgateError(MESSAGE_PARSE_TIMEOUT, 'Message parsing took too long', { timeoutMs: lim.timeoutMs }));
    }, lim.timeoutMs);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Header fields for extraction from mailparser's raw lines: lower-cased names, first wins, encoded words decoded. */
export function headersFromLines(lines: ReadonlyArray<{ key: string; line: string }>): Map<string, string> {
  const headers = new Map<string, string>();
  for (const { key, line } of lines) {
    const name = key.toLowerCase();
    const colon = line.indexOf(':');
    // mailparser reports garbage lines with an empty key; RFC 5322 field names are printable ASCII.
    if (colon <= 0 || !/^[!-9;-~]+$/.test(name) || headers.has(name)) continue;
    const value = colon >= 0 ? line.slice(colon + 1) : '';
    headers.set(name, decodeEncodedWords(unfold(value)).trim());
  }
  if (headers.size === 0) {
    throw new MedgateError(MESSAGE_MALFORMED, 'Message has no header fields');
  }
  return headers;
}

export function checkAttachmentCount(count: number, lim: ParseLimits): void {
  if (count > lim.maxAttachments) {
    throw new MedgateError(MESSAGE_TOO_LARGE, 'Message has too many attachments', { count, max: lim.maxAttachments });
  }
}

function unfold(value: string): string {
  return value.replace(/\r?\n[ \t]+/g, ' ').replace(/\r?\n/g, '');
}

/** Scans the raw header section without decoding it: size and per-line length bounds. */
export function checkHeaderSection(raw: Buffer, lim: ParseLimits): void {
  let lineStart = 0;
  const scanEnd = Math.min(raw.length, lim.maxHeaderBytes + 1);
  for (let i = 0; i < scanEnd; i++) {
    if (raw[i] !== 0x0a) continue;
    const lineLength = i - lineStart;
    if (lineLength > lim.maxHeaderLineLength) throw headerLineTooLong(lineLength, lim);
    // An empty line (LF or CRLF alone) closes the header section.
    if (lineLength === 0 || (lineLength === 1 && raw[lineStart] === 0x0d)) return;
    lineStart = i + 1;
  }
  const tail = scanEnd - lineStart;
  if (tail > lim.maxHeaderLineLength) throw headerLineTooLong(tail, lim);
  if (raw.length > lim.maxHeaderBytes) {
    throw new MedgateError(MESSAGE_HEADER_TOO_LONG, 'Message header section exceeds the maximum accepted size', {
      max: lim.maxHeaderBytes,
    });
  }
}

function headerLineTooLong(length: number, lim: ParseLimits): MedgateError {
  return new MedgateError(MESSAGE_HEADER_TOO_LONG, 'A message header line exceeds the maximum accepted length', {
    length,
    max: lim.maxHeaderLineLength,
  });
}
