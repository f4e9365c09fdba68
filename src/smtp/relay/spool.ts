import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readFileHead } from '../../util/file-head.js';

/**
 * Writes an incoming DATA stream to a spool file instead of collecting chunks in memory: the
 * socket is read at disk speed and memory does not hold the message. Its sha256 is computed on the
 * way and a file above `syncAbove` bytes is fsynced, so a large message can be committed to the
 * store by moving the file (never read whole). The caller removes it if it was not committed.
 */
export async function spoolToFile(stream: Readable, spoolDir: string, maxBytes: number, syncAbove = 0): Promise<{ file: string; bytes: number; sha256: string; oversized: boolean }> {
  fs.mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const file = path.join(spoolDir, `relay-${randomUUID()}.eml`);
  let bytes = 0;
  const hash = createHash('sha256');
  // Past the size limit the rest is read and dropped: a peer cannot fill the disk, and still gets
  // its 552 at the end of DATA.
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) return done();
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const out = fs.createWriteStream(file, { mode: 0o600, flags: 'wx' });
  try {
    await pipeline(stream, count, out);
    // Only a file that becomes the stored blob needs to be durable; smaller messages are committed
    // to the database (which syncs) and the spool file is thrown away.
    if (bytes > syncAbove && bytes <= maxBytes) {
      const fd = await fs.promises.open(file, 'r+');
      try {
        await fd.sync();
      } finally {
        await fd.close();
      }
    }
  } catch (err) {
    // The peer hung up mid-DATA (or the disk failed): the caller never learns the file's name.
    await fs.promises.rm(file, { force: true });
    throw err;
  }
  return { file, bytes, sha256: hash.digest('hex'), oversized: bytes > maxBytes };
}

/** The header block of a spooled message (up to and including the blank line), at most `max` bytes read. */
export async function readHeaderBlock(file: string, max: number): Promise<Buffer> {
  const { head } = await readFileHead(file, max);
  const crlf = head.indexOf('\r\n\r\n');
  const lf = head.indexOf('\n\n');
  const end = crlf >= 0 && (lf < 0 || crlf < lf) ? crlf + 4 : lf >= 0 ? lf + 2 : head.length;
  return Buffer.from(head.subarray(0, end));
}

export function removeSpool(file: string): void {
  fs.rm(file, { force: true }, () => undefined);
}
