import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { expect, it } from 'vitest';
import { tempDir } from '../../helpers/gateway.js';
import { contract } from './stores.js';

const MB = 1024 * 1024;

/** Writes `size` random bytes to a file 1 MiB at a time (the test itself never holds them whole). */
function bigFile(dir: string, size: number): { path: string; size: number; sha256: string } {
  const file = path.join(dir, 'sealed.eml');
  const fd = fs.openSync(file, 'w', 0o600);
  const hash = createHash('sha256');
  for (let written = 0; written < size; written += MB) {
    const piece = randomBytes(Math.min(MB, size - written));
    hash.update(piece);
    fs.writeSync(fd, piece);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return { path: file, size, sha256: hash.digest('hex') };
}

v8.setFlagsFromString('--expose-gc');
/** V8's collector, exposed at run time: the samples below measure live memory, not garbage not yet collected. */
const collect = vm.runInNewContext('gc') as () => void;
/** Live memory outside V8's heap (Buffers) and on it (strings: a chunk read as hex text is one). */
const live = (): number => { collect(); const m = process.memoryUsage(); return m.arrayBuffers + m.heapUsed; };

contract('blobs and health', (h, kind) => {
  it('commits a 25 MB sealed file and streams it back identical, chunk by chunk, with bounded memory', async () => {
    const { store } = h();
    const dir = tempDir();
    try {
      const sealed = bigFile(dir, 25 * MB + 12345);
      const base = live();
      let peak = base;
      // Each sample is a full collection of the runner's heap (hundreds of ms on a loaded machine):
      // sampled every 250 ms while committing and once per 2 MiB streamed (13 samples), not every
      // 20 ms and every 4 pieces (the SQLite stream's pieces are 64 KiB: a hundred collections, most
      // of the test's time). A whole copy held would be live at every one of them.
      const sampler = setInterval(() => { peak = Math.max(peak, live()); }, 250);
      const res = await store.mail.commit(sealed, [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'big' }]);
      expect(res.blobId).toBe(sealed.sha256);
      expect(fs.existsSync(sealed.path)).toBe(false); // moved into the store (SQLite) or copied into the database (PostgreSQL)
      const blob = (await store.mail.openBlob(res.blobId))!;
      expect(blob.size).toBe(sealed.size);
      const hash = createHash('sha256');
      let pieces = 0;
      let largest = 0;
      let sinceSample = 0;
      for await (const piece of blob.stream() as AsyncIterable<Buffer>) {
        hash.update(piece);
        pieces++;
        largest = Math.max(largest, piece.length);
        sinceSample += piece.length;
        if (sinceSample >= 2 * MB) { sinceSample = 0; peak = Math.max(peak, live()); }
      }
      clearInterval(sampler);
      expect(hash.digest('hex')).toBe(sealed.sha256);
      expect(pieces).toBeGreaterThan(20);
      expect(largest).toBeLessThanOrEqual(MB);
      // Well under the blob's size: never the whole message in memory (live memory, collected at each sample).
      if (process.env['MEDGATE_TEST_DEBUG']) console.log(`${kind}: live memory grew ${((peak - base) / MB).toFixed(1)} MB`);
      // Bounded by the pieces in flight, not by the size. SQLite: 0–2 MB measured, against the 25 MB
      // a whole copy takes. PostgreSQL: 0.4–11 MB measured on a quiet machine and up to 19.6 MB in the
      // full suite on two loaded cores (each chunk crosses the driver as hex text, and the pool's
      // connections hold their own buffers while a query is in flight); a whole copy read through the
      // driver is the 25 MB Buffer plus 50 MB of hex text, so under the message size still tells them apart.
      expect(peak - base).toBeLessThan(kind === 'postgres' ? 25 * MB : 16 * MB);
      const head = await blob.head(1000);
      expect(head.length).toBe(1000);
      expect(head.equals((await store.mail.getBlob(res.blobId))!.subarray(0, 1000))).toBe(true);
      expect((await blob.head(300 * 1024)).length).toBe(300 * 1024);
      const msg = (await store.mail.listMessages(res.placed[0]!.mailboxId))[0]!;
      expect(msg.sealedSize).toBe(sealed.size);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stores the same sealed file once, and a blob in memory streams and heads too', async () => {
    const { store } = h();
    const dir = tempDir();
    try {
      const one = bigFile(dir, 600 * 1024);
      const copy = path.join(dir, 'copy.eml');
      fs.copyFileSync(one.path, copy);
      const r1 = await store.mail.commit(one, [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'x1' }]);
      const r2 = await store.mail.commit({ ...one, path: copy }, [{ owner: 'b@x.test', mailbox: 'INBOX', deliveryKey: 'x2' }]);
      expect(r2.blobId).toBe(r1.blobId);
      expect(await h().count('blobs')).toBe(1);
      const small = await store.mail.commit(Buffer.from('small sealed'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 's' }]);
      const handle = (await store.mail.openBlob(small.blobId))!;
      expect((await handle.head(5)).toString()).toBe('small');
      const parts: Buffer[] = [];
      for await (const p of handle.stream() as AsyncIterable<Buffer>) parts.push(p);
      expect(Buffer.concat(parts).toString()).toBe('small sealed');
      expect(await store.mail.openBlob('0'.repeat(64))).toBeUndefined();
      expect(await store.mail.getBlob('0'.repeat(64))).toBeUndefined();
      const empty = await store.mail.commit(Buffer.alloc(0), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'e' }]);
      expect((await store.mail.getBlob(empty.blobId))!.length).toBe(0);
      expect(await store.mail.removeOrphanBlobFiles()).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pings, reports pool use where there is a pool, and is STORE_UNAVAILABLE once closed', async () => {
    const { store } = h();
    await store.ping();
    const stats = store.poolStats();
    if (kind === 'sqlite') expect(stats).toBeUndefined();
    else expect(stats).toMatchObject({ max: 10, waiting: 0 });
    expect(store.kind).toBe(kind);
    await store.close();
    await expect(store.ping()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('counts failed logins in a window (across instances where the store is shared)', async () => {
    const { store } = h();
    const now = Date.now();
    expect(await store.loginFailures.record('imap:a@x.test', 60_000, now - 120_000)).toBe(1);
    expect(await store.loginFailures.record('imap:a@x.test', 60_000, now)).toBe(1);
    expect(await store.loginFailures.record('imap:a@x.test', 60_000, now)).toBe(2);
    expect(await store.loginFailures.count('imap:a@x.test', 60_000, now)).toBe(2);
    expect(await store.loginFailures.count('imap:b@x.test', 60_000, now)).toBe(0);
    if (kind === 'postgres') expect(await (await h().another()).loginFailures.count('imap:a@x.test', 60_000, now)).toBe(2);
    await store.loginFailures.clear('imap:a@x.test');
    expect(await store.loginFailures.count('imap:a@x.test', 60_000, now)).toBe(0);
    // The limiters join account and address with NUL (PostgreSQL TEXT cannot hold it as is).
    expect(await store.loginFailures.record('smtp:a@x.test\u0000192.0.2.1', 60_000, now)).toBe(1);
    expect(await store.loginFailures.count('smtp:a@x.test\\0192.0.2.1', 60_000, now)).toBe(0);
    expect(await store.loginFailures.count('smtp:a@x.test\u0000192.0.2.1', 60_000, now)).toBe(1);
  });
});
