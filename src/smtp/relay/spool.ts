import { createCipheriv, createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { newSpoolKey, readRaw, type SpoolFile } from '../../util/spool-file.js';
import { secretKey } from '../../crypto/secret-key.js';
import { noteStreamed, notingStream } from '../../runtime/streamed-garbage.js';

/**
 * Writes an incoming DATA stream to a spool file instead of collecting chunks in memory: the
 * socket is read at disk speed and memory does not hold the message. The file is encrypted
 * (AES-256-GCM, a key per message held only in memory: src/util/spool-file.ts): a peer's message is
 * sealed already, but a plain message is only refused after it has arrived, and nothing clear may be
 * left behind by a crash. Its sha256 is computed on the way. The caller removes it.
 */
export async function spoolToFile(stream: Readable, spoolDir: string, maxBytes: number): Promise<{ file: SpoolFile; bytes: number; sha256: string; oversized: boolean }> {
  fs.mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const key = newSpoolKey(path.join(spoolDir, `relay-${randomUUID()}.eml`));
  let bytes = 0;
  const hash = createHash('sha256');
  // Past the size limit the rest is read and dropped: a peer cannot fill the disk, and still gets
  // its 552 at the end of DATA.
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) return done();
      hash.update(chunk);
      noteStreamed(chunk.length);
      done(null, chunk);
    },
  });
  const cipher = createCipheriv('aes-256-gcm', secretKey(key.key), key.iv);
  try {
    await pipeline(stream, count, cipher, fs.createWriteStream(key.path, { mode: 0o600, flags: 'wx' }));
  } catch (err) {
    // The peer hung up mid-DATA (or the disk failed): the caller never learns the file's name.
    await fs.promises.rm(key.path, { force: true });
    throw err;
  }
  return { file: { ...key, tag: cipher.getAuthTag() }, bytes, sha256: hash.digest('hex'), oversized: bytes > maxBytes };
}

/**
 * The accepted message as the store keeps it (a large sealed message becomes a blob file by being
 * moved): decrypted from the spool into `to` (0600) and fsynced, the GCM tag checked at the end; a
 * check that fails removes `to` and rejects.
 */
export async function materialise(file: SpoolFile, to: string): Promise<string> {
  try {
    await pipeline(readRaw(file), notingStream(), fs.createWriteStream(to, { mode: 0o600, flags: 'wx' }));
  } catch (err) {
    // The spool changed under us (the GCM tag fails at the end) or the disk failed: what was
    // written is not the peer's message and must not stay behind (the caller never learns `to`).
    await fs.promises.rm(to, { force: true });
    throw err;
  }
  const fd = await fs.promises.open(to, 'r+');
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
  return to;
}

export function removeSpool(file: string): void {
  fs.rm(file, { force: true }, () => undefined);
}
