/**
 * The submission path's parse for identity extraction: one pass of mailsplit (the splitter that
 * mailparser runs on) that decodes only what extraction reads — the inline text/plain parts, and
 * the attachments that may be XDM archives or HPRIM text, within their bounds. The PDF, the image,
 * the DICOM series are counted, never decoded: mailparser decoded and hashed them all, and on a
 * 20 KB + 100 KB-PDF submission that was 2.0 of its 2.1 ms of CPU in the sealing worker
 * (docs/operations.md, "Speed targets").
 *
 * It gives what mailparser gives, by mailparser's own rules (createNode, getTextContent,
 * processHeaders), for the messages it handles, and the libraries mailparser uses do the decoding
 * (mailsplit's decoders, its flowed decoder, libmime's charsets and header words). A message whose
 * text mailparser builds by rules not repeated here — HTML or delivery-status text, an embedded
 * message — is handed to mailparser itself, as is anything the splitter refuses: `undefined` says
 * so, and the caller parses with mailparser. test/message/mime-scan.test.ts compares the two on
 * the fixtures, the samples and generated variants.
 */
import type { Readable, Transform } from 'node:stream';
import mailsplit, { type MimeNode, type SplitterChunk } from '@zone-eu/mailsplit';
import FlowedDecoder from '@zone-eu/mailsplit/lib/flowed-decoder.js';
import { Splitter } from '../mime/splitter.js';
import libmime from 'libmime';
import { MedgateError } from '../errors.js';
import { checkAttachmentCount, headersFromLines, type ExtractionAttachment, type ExtractionInput, type ParseLimits } from './parse.js';

/** mailparser's textTypes (keepDeliveryStatus off): content types that are text when inline. */
const TEXT_TYPES = ['text/plain', 'text/html', 'message/delivery-status'];
/** Charsets mailparser reads as UTF-8 without a conversion stream. */
const UTF8_LIKE = ['ascii', 'usascii', 'utf8'];

/** How many decoded bytes of an attachment extraction reads (0: none, then it is not decoded). */
export type KeepLimit = (attachment: { filename?: string; contentType: string }) => number;

/**
 * A leaf part being read: its bytes go to `sink`; `done` settles once they are decoded, and
 * `finish`, called once the splitter has ended, settles after `done` with what it leaves in the result.
 */
interface OpenPart {
  sink: Transform | undefined;
  encodedBytes: number;
  done: Promise<void>;
  finish: () => Promise<void>;
}

/** Handed to mailparser: a structure whose text mailparser builds by rules not repeated here. */
class NeedsMailparser extends Error {}

/**
 * Scans `source` (the whole message, or a file stream) for extraction. Resolves to undefined when
 * mailparser must parse this message instead (see above); rejects only with the typed limit
 * errors (too many attachments), as the mailparser paths do.
 */
export async function scanForExtraction(source: Buffer | Readable, lim: ParseLimits, keepLimit: KeepLimit): Promise<ExtractionInput | undefined> {
  const splitter = new Splitter({ ignoreEmbedded: true });
  const texts: Array<Promise<string>> = [];
  const attachments: ExtractionAttachment[] = [];
  const parts = new Map<MimeNode, OpenPart>();
  let root: MimeNode | undefined;
  let current: OpenPart | undefined;
  let failure: unknown;

  const endCurrent = () => {
    current?.sink?.end();
    current = undefined;
  };

  splitter.on('data', (chunk: SplitterChunk) => {
    if (failure) return;
    try {
      if (chunk.type === 'node') {
        endCurrent();
        root ??= chunk;
        current = openPart(chunk, texts, attachments, keepLimit, lim);
        if (current) {
          parts.set(chunk, current);
          // Awaited only if the scan gets that far: a decoder error after the scan was handed on
          // must not surface as an unhandled rejection (it ends a worker thread).
          current.done.catch(() => undefined);
        }
        return;
      }
      if (chunk.type === 'body' && chunk.value?.length) {
        const part = parts.get(chunk.node);
        if (!part) return;
        part.encodedBytes += chunk.value.length;
        part.sink?.write(chunk.value);
      }
    } catch (err) {
      failure = err;
    }
  });

  try {
    await new Promise<void>((resolve, reject) => {
      // mailsplit types its events narrowly; it is a Transform (as in src/imap/mime/structure.ts).
      const stream = splitter as unknown as Transform;
      stream.once('end', resolve);
      stream.once('error', reject);
      if (Buffer.isBuffer(source)) {
        stream.end(source);
      } else {
        source.once('error', reject);
        source.pipe(stream);
      }
    });
    endCurrent();
    if (failure) throw failure;
    await Promise.all([...parts.values()].map((p) => p.finish()));
    if (!root) throw new NeedsMailparser('no MIME node');
    const headerLines = root.headers && Array.isArray(root.headers.lines) ? root.headers.lines : [];
    const result: ExtractionInput = { headers: headersFromLines(headerLines), attachments };
    const subject = firstSubject(headerLines);
    if (subject !== undefined) result.subject = subject;
    const text = (await Promise.all(texts)).filter((t) => t.length > 0).join('\n');
    if (text.length > 0) result.textBody = text;
    return result;
  } catch (err) {
    // medgate's own errors (too many attachments, no header field) are the mailparser paths'
    // answer too; anything else (a structure handed on, a splitter or decoder error): mailparser decides.
    if (err instanceof MedgateError) throw err;
    return undefined;
  }
}

/**
 * mailparser's createNode for a leaf: attachment or inline text, by content type and disposition.
 * Returns the part to feed, or undefined for a multipart container (its body is only boundaries).
 */
function openPart(node: MimeNode, texts: Array<Promise<string>>, attachments: ExtractionAttachment[], keepLimit: KeepLimit, lim: ParseLimits): OpenPart | undefined {
  const contentType = node.contentType;
  if (contentType && /^multipart\//i.test(contentType)) return undefined;
  if (contentType === 'message/rfc822') throw new NeedsMailparser('embedded message');
  let disposition = node.disposition || undefined;
  if (disposition && !['attachment', 'inline'].includes(disposition)) disposition = 'attachment';
  const isText = typeof contentType === 'string' && TEXT_TYPES.includes(contentType);
  disposition = !disposition && !isText ? 'attachment' : (disposition ?? 'inline');
  const isAttachment = !isText || disposition !== 'inline';

  if (!isAttachment) {
    if (contentType !== 'text/plain') throw new NeedsMailparser('HTML or delivery-status text');
    return openText(node, texts);
  }
  let type = contentType;
  if (contentType === 'application/octet-stream' && node.filename) type = libmime.detectMimeType(node.filename) || 'application/octet-stream';
  const out: ExtractionAttachment = { contentType: (type || 'application/octet-stream').toLowerCase(), content: Buffer.alloc(0) };
  if (node.filename) out.filename = node.filename;
  attachments.push(out);
  checkAttachmentCount(attachments.length, lim);
  return openAttachment(node, out, keepLimit(out));
}

/** An inline text/plain part as mailparser decodes it: transfer encoding, format=flowed, charset. */
function openText(node: MimeNode, texts: Array<Promise<string>>): OpenPart {
  const decoder = node.getDecoder();
  let stream: Transform = decoder;
  if (node.flowed) stream = chain(stream, new FlowedDecoder({ delSp: node.delSp }) as unknown as Transform);
  const charset = node.charset || 'utf-8';
  if (!UTF8_LIKE.includes(charset.toLowerCase().replace(/[^a-z0-9]+/g, ''))) {
    let converter: Transform | undefined;
    try {
      converter = libmime.createDecodeStream(charset);
    } catch {
      // mailparser keeps the bytes as they are when the charset cannot be decoded
    }
    if (converter) stream = chain(stream, converter);
  }
  const text = collect(stream, Infinity).then(({ bytes }) => bytes.toString().replace(/\r?\n/g, '\n'));
  texts.push(text);
  const done = text.then(() => undefined);
  return { sink: decoder, encodedBytes: 0, done, finish: () => done };
}

/** An attachment: decoded up to `keep` bytes when extraction reads it, else only counted. */
function openAttachment(node: MimeNode, out: ExtractionAttachment, keep: number): OpenPart {
  if (keep <= 0) {
    // Never decoded: its size is what came over the wire. An empty part is empty content.
    const part: OpenPart = {
      sink: undefined, encodedBytes: 0, done: Promise.resolve(),
      finish: async () => {
        if (part.encodedBytes > 0) out.omitted = { size: part.encodedBytes };
      },
    };
    return part;
  }
  const decoder = node.getDecoder();
  const decoded = collect(decoder, keep).then(({ bytes, seen }) => {
    if (seen <= keep) out.content = bytes;
    else out.omitted = { size: seen };
  });
  return { sink: decoder, encodedBytes: 0, done: decoded, finish: () => decoded };
}

/** `from` piped into `to`, an error of either ending the chain. */
function chain(from: Transform, to: Transform): Transform {
  from.on('error', (err) => to.destroy(err));
  from.pipe(to);
  return to;
}

/** The stream's bytes, kept up to `keep`, and how many there were. */
function collect(stream: Transform, keep: number): Promise<{ bytes: Buffer; seen: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let seen = 0;
    stream.on('data', (chunk: Buffer | string) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      seen += b.length;
      if (seen <= keep) chunks.push(b);
    });
    stream.once('end', () => resolve({ bytes: seen <= keep ? Buffer.concat(chunks) : Buffer.alloc(0), seen }));
    stream.once('error', reject);
  });
}

/** mailparser's `subject`: the first Subject field, header-decoded, then its encoded words. */
function firstSubject(lines: ReadonlyArray<{ key: string; line: string }>): string | undefined {
  const line = lines.find((l) => l.key === 'subject');
  if (!line) return undefined;
  let value = ((libmime.decodeHeader(line.line) || { value: '' }).value || '').toString().trim();
  value = Buffer.from(value, 'binary').toString();
  try {
    value = libmime.decodeWords(value);
  } catch {
    // mailparser keeps it as it is
  }
  return value;
}
