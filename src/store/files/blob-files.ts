/**
 * Large sealed messages live as files beside the database, not inside it: a 25 MB message would
 * otherwise have to be held whole in memory to be written (and again to be read). The file name is
 * the sha256 of the sealed bytes (the blob id), so a file is written once and never changed.
 *
 * Durability mirrors the database's: a file is fsynced and renamed into place, and its directory
 * fsynced, before the transaction that refers to it commits. A crash in between leaves a file no
 * row names; `removeOrphans` deletes those at start.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { readFileHead } from '../../util/file-head.js';

export class BlobFiles {
  constructor(readonly dir: string) {}

  pathOf(blobId: string): string {
    if (!/^[0-9a-f]{64}$/.test(blobId)) throw new Error('blob id must be a sha256 hex digest');
    return path.join(this.dir, blobId.slice(0, 2), blobId);
  }

  /**
   * Moves a finished sealed file (already fsynced by its writer, on the same file system) to its
   * place. Returns whether this call created the file (false: the same bytes were already stored).
   */
  adopt(source: string, blobId: string): boolean {
    const target = this.pathOf(blobId);
    const dir = path.dirname(target);
    // A directory made here must itself survive a crash: its parent's entry is synced too.
    const firstMade = fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (firstMade) for (let d = dir; d.length >= firstMade.length; d = path.dirname(d)) fsyncDir(path.dirname(d));
    if (fs.existsSync(target)) {
      fs.rmSync(source, { force: true });
      return false;
    }
    try {
      fs.renameSync(source, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      // The database (and so blobs/) is on another file system than the spool: copy, then sync.
      const partial = `${target}.partial`;
      fs.copyFileSync(source, partial);
      const fd = fs.openSync(partial, 'r+');
      try { fs.fsyncSync(fd); } finally { fs.closeSync(fd); }
      fs.renameSync(partial, target);
      fs.rmSync(source, { force: true });
    }
    fsyncDir(dir);
    return true;
  }

  stream(blobId: string): Readable {
    return fs.createReadStream(this.pathOf(blobId));
  }

  read(blobId: string): Promise<Buffer> {
    return fs.promises.readFile(this.pathOf(blobId));
  }

  /** The first `max` bytes (or fewer) of a stored file. */
  async head(blobId: string, max: number): Promise<Buffer> {
    return (await readFileHead(this.pathOf(blobId), max)).head;
  }

  /**
   * Undoes an `adopt` whose transaction rolled back: the file goes back to `source`, so that its
   * writer may commit it again (a delivery retried without its filing) or remove it.
   */
  giveBack(blobId: string, source: string): void {
    const target = this.pathOf(blobId);
    try {
      fs.renameSync(target, source);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      fs.copyFileSync(target, source);
      fs.rmSync(target, { force: true });
    }
  }

  remove(blobId: string): void {
    fs.rmSync(this.pathOf(blobId), { force: true });
  }

  /** Deletes every stored file whose id `isReferenced` does not know (left by a crash before commit). */
  removeOrphans(isReferenced: (blobId: string) => boolean): number {
    if (!fs.existsSync(this.dir)) return 0;
    let removed = 0;
    for (const sub of fs.readdirSync(this.dir)) {
      const subDir = path.join(this.dir, sub);
      if (!fs.statSync(subDir).isDirectory()) continue;
      for (const name of fs.readdirSync(subDir)) {
        if (/^[0-9a-f]{64}$/.test(name) && isReferenced(name)) continue;
        fs.rmSync(path.join(subDir, name), { force: true });
        removed++;
      }
    }
    return removed;
  }
}

/** Makes a rename durable: the directory entry itself must reach the disk. */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
