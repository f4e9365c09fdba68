import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readFileHead } from '../../util/file-head.js';

export interface SpooledMessage {
  /** Bytes the client sent in DATA (after dot-unstuffing), even past the limit. */
  size: number;
  oversized: boolean;
  /** Reads the spooled bytes back (only when not oversized: nothing past the limit is kept). */
  read(): Promise<Buffer>;
  /** The spool file (0600; only when not inMemory), removed after `use`: large messages are sealed from it, never read whole. */
  file: string;
  /** Whether the bytes are also held in memory (messages up to 1 MiB). */
  inMemory: boolean;
  /** The first `max` bytes (the header section), without reading a large message whole. */
  head(max: number): Promise<Buffer>;
  /** Puts header lines above the message (in memory, or by rewriting the spool file). */
  prepend(lines: Buffer): Promise<void>;
}

/** Up to this size the spooled bytes are also kept in memory, so reading them back costs no I/O. */
const KEEP_IN_MEMORY_BYTES = 1024 * 1024;

/**
 * Receives a DATA body while counting its size: up to 1 MiB it stays in memory (no file, no I/O);
 * beyond, everything goes to a private spool file (mode 0600), so a large message never sits whole
 * in memory. Hands the result to `use`, and removes the file in every case — success, refusal,
 * error, or the client vanishing mid-DATA (the stream is destroyed and the pipeline rejects). Past
 * `maxBytes` the rest of the body is read and dropped, so the client reaches the end of DATA and
 * gets its 552 reply.
 */
export async function withSpooledMessage<T>(stream: Readable, dir: string, maxBytes: number, use: (m: SpooledMessage) => Promise<T>): Promise<T> {
  const file = path.join(dir, `submission-${Date.now()}-${randomBytes(8).toString('hex')}.eml`);
  let size = 0;
  let kept: Buffer[] = [];
  let fh: fs.promises.FileHandle | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) {
        kept = [];
        return done();
      }
      if (!fh && size <= KEEP_IN_MEMORY_BYTES) {
        kept.push(chunk);
        return done();
      }
      toFile(chunk).then(() => done(), done);
    },
  });
  const toFile = async (chunk: Buffer): Promise<void> => {
    if (!fh) {
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      fh = await fs.promises.open(file, 'wx', 0o600);
      await fh.write(Buffer.concat(kept));
      kept = [];
    }
    await fh.write(chunk);
  };
  try {
    await pipeline(stream, sink);
    const oversized = size > maxBytes;
    let inMemory = !fh && !oversized ? Buffer.concat(kept, size) : undefined;
    kept = [];
    return await use({
      size, oversized, file, inMemory: !!inMemory,
      read: () => (inMemory ? Promise.resolve(inMemory) : fs.promises.readFile(file)),
      head: async (max) => (inMemory ? inMemory.subarray(0, max) : (await readFileHead(file, max)).head),
      prepend: async (lines) => {
        if (inMemory) {
          inMemory = Buffer.concat([lines, inMemory]);
          return;
        }
        // Rare (an application signing for a doctor, above 1 MiB): copy into a new file, then replace.
        const next = `${file}.new`;
        await pipeline(async function* () {
          yield lines;
          yield* fs.createReadStream(file);
        }, fs.createWriteStream(next, { mode: 0o600, flags: 'wx' }));
        await fs.promises.rename(next, file);
      },
    });
  } finally {
    if (fh) {
      await fh.close().catch(() => undefined);
      // unlink, not rm: rm walks the path (lstat, rimraf) for what is always one plain file. A failure
      // here must not turn an accepted message into an error (the client would send it twice): the
      // file is left to the sweep at the next start.
      await fs.promises.unlink(file).catch(() => undefined);
    }
  }
}
