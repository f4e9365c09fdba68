import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { noteStreamed } from '../../runtime/streamed-garbage.js';
import { newSpoolKey, readRaw, readRawHead, readRawWhole, SpoolWriter, writeSpoolFile, type SpoolFile } from '../../util/spool-file.js';

export interface SpooledMessage {
  /** Bytes the client sent in DATA (after dot-unstuffing), even past the limit. */
  size: number;
  oversized: boolean;
  /** Reads the spooled bytes back (only when not oversized: nothing past the limit is kept). */
  read(): Promise<Buffer>;
  /**
   * The spool file (encrypted, 0600; only when not inMemory) with the key that opens it, held in
   * memory only; removed after `use`. Large messages are sealed from it, never read whole.
   */
  file: SpoolFile;
  /** Whether the bytes are also held in memory (messages up to 1 MiB). */
  inMemory: boolean;
  /** The first `max` bytes (the header section), without reading a large message whole. */
  head(max: number): Promise<Buffer>;
  /** Puts header lines above the message (in memory, or by rewriting the spool file under a new key). */
  prepend(lines: Buffer): Promise<void>;
}

/** Up to this size the spooled bytes are also kept in memory, so reading them back costs no I/O. */
const KEEP_IN_MEMORY_BYTES = 1024 * 1024;

/**
 * Receives a DATA body while counting its size: up to 1 MiB it stays in memory (no file, no I/O);
 * beyond, everything goes to a private spool file (mode 0600), encrypted with AES-256-GCM under a
 * key drawn for this message and kept only in memory (src/util/spool-file.ts), so a large message
 * never sits whole in memory and a crash leaves nothing readable on disk. Hands the result to `use`,
 * and removes the file in every case — success, refusal, error, or the client vanishing mid-DATA
 * (the stream is destroyed and the pipeline rejects). Past `maxBytes` the rest of the body is read
 * and dropped, so the client reaches the end of DATA and gets its 552 reply.
 */
export async function withSpooledMessage<T>(stream: Readable, dir: string, maxBytes: number, use: (m: SpooledMessage) => Promise<T>): Promise<T> {
  let file = newSpoolKey(path.join(dir, `submission-${Date.now()}-${randomBytes(8).toString('hex')}.eml`));
  const made: string[] = [];
  let size = 0;
  let kept: Buffer[] = [];
  let writer: SpoolWriter | undefined;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > maxBytes) {
        kept = [];
        return done();
      }
      if (!writer && size <= KEEP_IN_MEMORY_BYTES) {
        kept.push(chunk);
        return done();
      }
      toFile(chunk).then(() => done(), done);
    },
  });
  const toFile = async (chunk: Buffer): Promise<void> => {
    if (!writer) {
      await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
      writer = new SpoolWriter(file);
      made.push(file.path);
      await writer.write(Buffer.concat(kept));
      kept = [];
    }
    await writer.write(chunk);
    noteStreamed(chunk.length);
  };
  try {
    await pipeline(stream, sink);
    const oversized = size > maxBytes;
    if (writer && !oversized) file = await writer.end();
    let inMemory = !writer && !oversized ? Buffer.concat(kept, size) : undefined;
    kept = [];
    const message: SpooledMessage = {
      size, oversized, file, inMemory: !!inMemory,
      read: () => (inMemory ? Promise.resolve(inMemory) : readRawWhole(file)),
      head: async (max) => (inMemory ? inMemory.subarray(0, max) : (await readRawHead(file, max)).head),
      prepend: async (lines) => {
        if (inMemory) {
          inMemory = Buffer.concat([lines, inMemory]);
          return;
        }
        // Rare (an application signing for a doctor, above 1 MiB): copied under a new key.
        const from = file;
        const next = newSpoolKey(from.path.replace(/\.eml$/, `-${randomBytes(4).toString('hex')}.eml`));
        made.push(next.path);
        file = await writeSpoolFile(next, (async function* () {
          yield lines;
          for await (const chunk of readRaw(from)) yield chunk as Buffer;
        })());
        message.file = file;
      },
    };
    return await use(message);
  } finally {
    await writer?.close();
    // unlink, not rm: rm walks the path (lstat, rimraf) for what is always one plain file. A failure
    // here must not turn an accepted message into an error (the client would send it twice): the
    // file is left to the sweep at the next start (and is unreadable without its key anyway).
    for (const f of made) await fs.promises.unlink(f).catch(() => undefined);
  }
}
