import fs from 'node:fs';
import path from 'node:path';

/**
 * Creates `file` with `data` unless it exists, owner-only. The bytes are written whole under a
 * private name and linked into place, so a process that finds the file reads all of it, never the
 * empty file between another process's open and write. Two processes starting together: the first
 * link wins and the other's bytes are dropped (callers read the file back after this).
 */
export function createFileOnce(file: string, data: string | Buffer): void {
  if (fs.existsSync(file)) return;
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  fs.writeFileSync(temp, data, { mode: 0o600, flag: 'wx' });
  try {
    fs.linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}
