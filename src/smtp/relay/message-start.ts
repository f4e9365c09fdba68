import { Readable } from 'node:stream';

/**
 * The first bytes of a DATA stream, up to the end of the header block (or `headMax` bytes), read
 * without consuming the rest: the relay decides from them whether the message is sealed (spooled to
 * a file as before) or plain (MSSanté intake: held in memory only, never written in clear).
 */
export interface MessageStart {
  head: Buffer;
  /** Every chunk read so far (the head and whatever came with its last chunk). */
  chunks: Buffer[];
  bytes: number;
  /** The rest of the stream, chunk by chunk. */
  rest: AsyncIterator<Buffer>;
  ended: boolean;
}

function headerEnd(buf: Buffer): number {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf >= 0 ? lf + 2 : -1;
}

/** A blank line spans at most 4 bytes, so 3 bytes of what came before a chunk complete any that ends in it. */
const CARRY = 3;

/**
 * Reads chunks until the header block's end (or `headMax` bytes). Each chunk is scanned once, with
 * the last 3 bytes before it (a blank line cut between two chunks), and the chunks are joined once
 * at the end: linear in the bytes read, however small the packets a peer sends.
 */
export async function readMessageStart(stream: Readable, headMax: number): Promise<MessageStart> {
  const rest = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let bytes = 0;
  let carry: Buffer = Buffer.alloc(0);
  const start = (headBytes: number, ended: boolean): MessageStart => {
    const joined = Buffer.concat(chunks, bytes);
    return { head: joined.subarray(0, headBytes), chunks, bytes, rest, ended };
  };
  for (;;) {
    if (bytes >= headMax) return start(headMax, false);
    const next = await rest.next();
    if (next.done) return start(bytes, true);
    const chunk = next.value;
    const window = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    const end = headerEnd(window);
    chunks.push(chunk);
    const before = bytes - carry.length;
    bytes += chunk.length;
    // The first blank line of this window is the message's first: earlier windows had none.
    if (end >= 0) return start(before + end, false);
    carry = window.subarray(Math.max(0, window.length - CARRY));
  }
}

/** The whole message as a stream again (what was read, then the rest): for the file spool. */
export function restream(start: MessageStart): Readable {
  return Readable.from((async function* () {
    yield* start.chunks;
    if (start.ended) return;
    for (;;) {
      const next = await start.rest.next();
      if (next.done) return;
      yield next.value;
    }
  })());
}

/**
 * The whole message in memory, up to `maxBytes`: past it the rest is read and dropped (the peer
 * gets its 552 at the end of DATA and nothing was kept). Memory only: nothing reaches the disk.
 */
export async function readToMemory(start: MessageStart, maxBytes: number): Promise<{ raw: Buffer; oversized: boolean }> {
  const kept = [...start.chunks];
  let bytes = start.bytes;
  if (!start.ended) {
    for (;;) {
      const next = await start.rest.next();
      if (next.done) break;
      bytes += next.value.length;
      if (bytes <= maxBytes) kept.push(next.value);
    }
  }
  if (bytes > maxBytes) return { raw: Buffer.alloc(0), oversized: true };
  return { raw: Buffer.concat(kept), oversized: false };
}
