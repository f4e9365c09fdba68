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
  // On disk before it has its name, and the name on disk after: a key that a power cut left linked
  // but empty would make everything sealed or encrypted with it unreadable.
  const fd = fs.openSync(temp, 'wx', 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    fs.rmSync(temp, { force: true });
  }
  const dirFd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(dirFd);
  } finally {
    fs.closeSync(dirFd);
  }
}
