import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';

/**
 * Writes an incoming DATA stream to a spool file instead of collecting chunks in memory: the
 * socket is read at disk speed and memory does not hold the message twice (chunks + concat).
 * The caller reads it back once for the checks and the commit, then removes it.
 */
export async function spoolToFile(stream: Readable, spoolDir: string): Promise<{ file: string; bytes: number }> {
  fs.mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
  const file = path.join(spoolDir, `relay-${randomUUID()}.eml`);
  let bytes = 0;
  stream.on('data', (c: Buffer) => { bytes += c.length; });
  await pipeline(stream, fs.createWriteStream(file, { mode: 0o600 }));
  return { file, bytes };
}

export function removeSpool(file: string): void {
  fs.rm(file, { force: true }, () => undefined);
}
