/**
 * Forwarded messages (`message/rfc822` parts): a doctor forwards "as attachment" a report he
 * received, often a lab's or a colleague's S/MIME-signed message. mailparser descends into such a
 * part and mixes its text and attachments with the forwarding doctor's own; for filing, the
 * forwarded message is ONE document, written by its signer.
 *
 * `forwardedView` rewrites each message/rfc822 part of a message as an opaque attachment (same
 * bytes, content type FORWARDED_TYPE, a file name when it had none) for the extraction parse only —
 * a part that came with FORWARDED_TYPE itself is an ordinary attachment there (application/octet-stream) —
 * the sealed message is the original, untouched — and returns each forwarded message's decoded bytes.
 * The split and the join are mailsplit's (the splitter mailparser runs on); nothing is parsed by hand.
 */
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import mailsplit, { type MimeNode, type SplitterChunk } from '@zone-eu/mailsplit';
import { Splitter } from '../mime/splitter.js';

/** The content type a forwarded message gets in the extraction view (never sealed, never sent). */
export const FORWARDED_TYPE = 'application/x-medgate-forwarded-message';

export interface ForwardedMessage {
  /** The attachment's file name in the view (its part label). */
  filename: string;
  /** The forwarded message, decoded from its transfer encoding. */
  bytes: Buffer;
}

export interface ForwardedView {
  /** The message with each forwarded message as an opaque attachment. */
  raw: Buffer;
  forwarded: ForwardedMessage[];
}

/** Quick test before any split (a byte search, no string): most messages forward nothing. */
function mayForward(raw: Buffer): boolean {
  return raw.indexOf('rfc822') >= 0 || raw.indexOf('RFC822') >= 0 || raw.indexOf('Rfc822') >= 0;
}

async function decode(node: MimeNode, chunks: Buffer[]): Promise<Buffer> {
  const decoder = node.getDecoder() as unknown as Transform;
  const collected = (async () => {
    const out: Buffer[] = [];
    for await (const b of decoder) out.push(b as Buffer);
    return Buffer.concat(out);
  })();
  for (const c of chunks) decoder.write(c);
  decoder.end();
  return collected;
}

/** The extraction view of `raw`, or undefined when it forwards no message or cannot be split. */
export async function forwardedView(raw: Buffer, maxForwarded = 16): Promise<ForwardedView | undefined> {
  if (!mayForward(raw)) return undefined;
  const splitter = new Splitter({ ignoreEmbedded: true }) as unknown as Transform;
  const joiner = new mailsplit.Joiner() as unknown as Transform;
  const bodies = new Map<MimeNode, { filename: string; chunks: Buffer[] }>();
  const rewrite = new Transform({
    readableObjectMode: true,
    writableObjectMode: true,
    transform(chunk: SplitterChunk, _enc, done) {
      if (chunk.type === 'node' && chunk.contentType === 'message/rfc822' && chunk.root !== true && bodies.size < maxForwarded) {
        const filename = chunk.filename || `message-${bodies.size + 1}.eml`;
        chunk.setContentType(FORWARDED_TYPE);
        if (!chunk.filename) chunk.setFilename(filename);
        bodies.set(chunk, { filename, chunks: [] });
      } else if (chunk.type === 'node' && typeof chunk.contentType === 'string' && chunk.contentType.toLowerCase() === FORWARDED_TYPE) {
        // A part the sender labelled with the view's own type is not a forwarded message: the view's
        // forwarded parts are paired with `forwarded` by order, and such a part would take the first
        // one's verified signer (its document credited to a lab it does not come from).
        chunk.setContentType('application/octet-stream');
      } else if (chunk.type === 'body' && chunk.value?.length) {
        bodies.get(chunk.node)?.chunks.push(chunk.value);
      }
      done(null, chunk);
    },
  });
  const out: Buffer[] = [];
  joiner.on('data', (b: Buffer) => out.push(b));
  try {
    await pipeline(toStream(raw), splitter, rewrite, joiner);
  } catch {
    // The splitter's own bounds (a header over its size, too many parts: EMAXLEN): no view. The
    // extraction parse reads the message as it is and refuses it with its typed error, or takes it
    // with the forwarded message's parts as parts of their own, none with a verified author.
    return undefined;
  }
  if (!bodies.size) return undefined;
  const forwarded: ForwardedMessage[] = [];
  for (const [node, b] of bodies) forwarded.push({ filename: b.filename, bytes: await decode(node, b.chunks) });
  return { raw: Buffer.concat(out), forwarded };
}

function toStream(raw: Buffer): Readable {
  const s = new PassThrough();
  s.end(raw);
  return s;
}
