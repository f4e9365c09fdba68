import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface SpooledMessage {
  /** Bytes the client sent in DATA (after dot-unstuffing), even past the limit. */
  size: number;
  oversized: boolean;
  /** Reads the spooled bytes back (only when not oversized: nothing past the limit is kept). */
  read(): Promise<Buffer>;
  /** The spool file (0600), removed after `use`; large messages are sealed from it, never read whole. */
  file: string;
  /** Whether the bytes are also held in memory (messages up to 1 MiB). */
  inMemory: boolean;
}

/** Up to this size the spooled bytes are also kept in memory, so reading them back costs no I/O. */
const KEEP_IN_MEMORY_BYTES = 1024 * 1024;

/**
 * Streams a DATA body into a private spool file (mode 0600) while counting its size, hands it to
 * `use`, and removes the file in every case — success, refusal, error, or the client vanishing
 * mid-DATA (the stream is destroyed and the pipeline rejects). Past `maxBytes` the rest of the
 * body is read and dropped, so the client reaches the end of DATA and gets its 552 reply.
 */
export async function withSpooledMessage<T>(stream: Readable, dir: string, maxBytes: number, use: (m: SpooledMessage) => Promise<T>): Promise<T> {
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `submission-${Date.now()}-${randomBytes(8).toString('hex')}.eml`);
  let size = 0;
  let kept: Buffer[] | undefined = [];
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) {
        kept = undefined;
        return done();
      }
      if (kept && size <= KEEP_IN_MEMORY_BYTES) kept.push(chunk);
      else kept = undefined;
      done(null, chunk);
    },
  });
  try {
    await pipeline(stream, limiter, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    const oversized = size > maxBytes;
    const inMemory = kept;
    return await use({
      size, oversized, file, inMemory: !!inMemory,
      read: () => (inMemory ? Promise.resolve(Buffer.concat(inMemory, size)) : fs.promises.readFile(file)),
    });
  } finally {
    // unlink, not rm: rm walks the path (lstat, rimraf) for what is always one plain file.
    await fs.promises.unlink(file).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
  }
}
