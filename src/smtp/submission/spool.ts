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
}

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
  const limiter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      done(null, size > maxBytes ? undefined : chunk);
    },
  });
  try {
    await pipeline(stream, limiter, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    const oversized = size > maxBytes;
    return await use({ size, oversized, read: () => fs.promises.readFile(file) });
  } finally {
    await fs.promises.rm(file, { force: true });
  }
}
