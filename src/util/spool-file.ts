/**
 * Spool files encrypted at rest (issue 27): a message being received above 1 MiB goes to disk
 * through AES-256-GCM (node:crypto, streaming) under a key drawn for that message and held only in
 * memory — with the file's name, in the object that travels to the sealing worker. A crash, `kill -9`
 * included, leaves only ciphertext whose key died with the process.
 *
 * GCM's ciphertext is as long as the clear text, so offsets and sizes are the message's. The tag is
 * kept in memory beside the key; reads that reach the end verify it (a file changed under us fails
 * the read), head reads that stop early do not get that far.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { secretKey } from '../crypto/secret-key.js';
import fs from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** An encrypted spool file and what opens it (never written anywhere). */
export interface SpoolFile {
  path: string;
  key: Uint8Array;
  iv: Uint8Array;
  /** GCM tag, known once the file is complete. */
  tag?: Uint8Array;
}

/** The raw message of a large submission: a clear file (operator commands, tests) or an encrypted spool file. */
export type RawSource = string | SpoolFile;

export function rawPath(src: RawSource): string {
  return typeof src === 'string' ? src : src.path;
}

export function newSpoolKey(path: string): SpoolFile {
  return { path, key: randomBytes(32), iv: randomBytes(12) };
}

/** Writes `source` encrypted to the new file `file.path` (mode 0600) and returns it with its tag. */
export async function writeSpoolFile(file: SpoolFile, source: AsyncIterable<Buffer> | Readable): Promise<SpoolFile> {
  const cipher = createCipheriv('aes-256-gcm', secretKey(file.key), file.iv);
  await pipeline(source, cipher, fs.createWriteStream(file.path, { mode: 0o600, flags: 'wx' }));
  return { ...file, tag: cipher.getAuthTag() };
}

/** An encrypting writer for a stream received chunk by chunk (the SMTP DATA spool). */
export class SpoolWriter {
  private readonly cipher;
  private fh: fs.promises.FileHandle | undefined;

  constructor(readonly file: SpoolFile) {
    this.cipher = createCipheriv('aes-256-gcm', secretKey(file.key), file.iv);
  }

  async write(chunk: Buffer): Promise<void> {
    this.fh ??= await fs.promises.open(this.file.path, 'wx', 0o600);
    const out = this.cipher.update(chunk);
    if (out.length) await this.fh.write(out);
  }

  /** Completes the file; returns it with its tag. */
  async end(): Promise<SpoolFile> {
    this.fh ??= await fs.promises.open(this.file.path, 'wx', 0o600);
    const out = this.cipher.final();
    if (out.length) await this.fh.write(out);
    await this.fh.close();
    this.fh = undefined;
    return { ...this.file, tag: this.cipher.getAuthTag() };
  }

  async close(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = undefined;
  }
}

/** Drops the first `n` bytes of a stream. */
function skip(n: number): Transform {
  let left = n;
  return new Transform({
    transform(chunk: Buffer, _e, done) {
      if (left >= chunk.length) {
        left -= chunk.length;
        return done();
      }
      const rest = left ? chunk.subarray(left) : chunk;
      left = 0;
      done(null, rest);
    },
  });
}

/** The clear bytes from `start` on (a GCM stream decrypts from the beginning; the head is skipped). */
export function readRaw(src: RawSource, start = 0): Readable {
  if (typeof src === 'string') return fs.createReadStream(src, { start });
  const decipher = createDecipheriv('aes-256-gcm', secretKey(src.key), src.iv);
  if (src.tag) decipher.setAuthTag(src.tag);
  const input = fs.createReadStream(src.path);
  input.on('error', (err) => decipher.destroy(err));
  const clear = input.pipe(decipher);
  if (!start) return clear;
  const out = skip(start);
  clear.on('error', (err) => out.destroy(err));
  return clear.pipe(out);
}

/** The first `max` clear bytes, and the message's size. */
export async function readRawHead(src: RawSource, max: number): Promise<{ head: Buffer; size: number }> {
  const { size } = await fs.promises.stat(rawPath(src));
  const chunks: Buffer[] = [];
  let got = 0;
  // With the tag: a head that reaches the end of a short message is verified like a whole read.
  const stream = readRaw(src);
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= max) break;
    }
  } finally {
    stream.destroy();
  }
  return { head: Buffer.concat(chunks).subarray(0, Math.min(max, size)), size };
}

/** The whole clear message (S/MIME copies are built in memory). */
export async function readRawWhole(src: RawSource): Promise<Buffer> {
  if (typeof src === 'string') return fs.promises.readFile(src);
  const chunks: Buffer[] = [];
  for await (const chunk of readRaw(src)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export async function rawSize(src: RawSource): Promise<number> {
  return (await fs.promises.stat(rawPath(src))).size;
}
