import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { text } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { SealedFile } from '../../src/store/types.js';
import { tempDir } from '../helpers/gateway.js';

const A = 'a@x.test';

describe('large sealed messages stored as files', () => {
  let dir: string;
  let store: SqliteStore;
  beforeEach(async () => {
    dir = tempDir();
    store = SqliteStore.open(path.join(dir, 'm.db'));
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function sealedFile(content: string): SealedFile {
    const file = path.join(dir, `spool-${Math.random().toString(16).slice(2)}`);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return { path: file, size: Buffer.byteLength(content), sha256: createHash('sha256').update(content).digest('hex') };
  }

  it('moves the file into blobs/, keeps the row empty, and reads it back as a stream, whole, or its head', async () => {
    const content = 'X-Medgate-Format: medgate/1\r\n\r\n' + 'b'.repeat(100_000);
    const file = sealedFile(content);
    const res = await store.mail.commit(file, [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k1' }]);
    expect(res.blobId).toBe(file.sha256);
    expect(fs.existsSync(file.path)).toBe(false);
    const stored = path.join(dir, 'blobs', file.sha256.slice(0, 2), file.sha256);
    expect(fs.readFileSync(stored, 'utf8')).toBe(content);
    expect(store.db.prepare('SELECT size, length(data) AS len, external FROM blobs').get()).toEqual({ size: content.length, len: 0, external: 1 });
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    expect((await store.mail.listMessages(inbox.id))[0]!.sealedSize).toBe(content.length);
    expect((await store.mail.getBlob(res.blobId))!.toString()).toBe(content);
    const handle = (await store.mail.openBlob(res.blobId))!;
    expect(handle.size).toBe(content.length);
    expect(await text(handle.stream())).toBe(content);
    expect((await handle.head(10)).toString()).toBe(content.slice(0, 10));
  });

  it('the same bytes committed twice make one file; expunging the last reference deletes it', async () => {
    const content = 'same bytes\r\n\r\nbody';
    const first = await store.mail.commit(sealedFile(content), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k1' }]);
    await store.mail.commit(sealedFile(content), [{ owner: A, mailbox: 'Sent', deliveryKey: 'k2' }]);
    const stored = path.join(dir, 'blobs', first.blobId.slice(0, 2), first.blobId);
    expect(fs.readdirSync(path.dirname(stored))).toEqual([first.blobId]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    const sent = (await store.mail.getMailbox(A, 'Sent'))!;
    await store.mail.setFlags(inbox.id, [1], 'add', ['\\Deleted']);
    await store.mail.expunge(inbox.id);
    expect(fs.existsSync(stored)).toBe(true); // still in Sent
    await store.mail.setFlags(sent.id, [1], 'add', ['\\Deleted']);
    await store.mail.expunge(sent.id);
    expect(fs.existsSync(stored)).toBe(false);
    expect(await store.mail.openBlob(first.blobId)).toBeUndefined();
  });

  it('a queued file blob goes with `queue remove`; a file no row names is an orphan swept at start', async () => {
    const file = sealedFile('queued\r\n\r\nbody');
    await store.mail.commit(file, [], {
      id: 'q1', envelopeFrom: A, messageId: '<m@x>', expiresAt: new Date(Date.now() + 3600_000).toISOString(), ret: null, envid: null,
      recipients: [{ recipient: 'b@y.test', notify: null, orcpt: null }],
    });
    const stored = path.join(dir, 'blobs', file.sha256.slice(0, 2), file.sha256);
    expect(fs.existsSync(stored)).toBe(true);
    expect(await store.queue.remove('q1')).toBe(true);
    expect(fs.existsSync(stored)).toBe(false);

    const orphanId = 'ab'.repeat(32);
    fs.mkdirSync(path.join(dir, 'blobs', 'ab'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'blobs', 'ab', orphanId), 'left by a crash before commit');
    const kept = await store.mail.commit(sealedFile('kept\r\n\r\n'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k' }]);
    expect(await store.mail.removeOrphanBlobFiles()).toBe(1);
    expect(fs.existsSync(path.join(dir, 'blobs', 'ab', orphanId))).toBe(false);
    expect(await store.mail.getBlob(kept.blobId)).toBeDefined();
  });

  it('a failed commit removes the file it put in place', async () => {
    const file = sealedFile('will fail\r\n\r\n');
    // A trigger makes the transaction fail after adopt() put the file in place (as a full disk would).
    store.db.exec('CREATE TRIGGER fail_insert BEFORE INSERT ON messages BEGIN SELECT RAISE(ABORT, \'disk full\'); END');
    await expect(store.mail.commit(file, [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k' }])).rejects.toThrow(/disk full/);
    expect(fs.existsSync(path.join(dir, 'blobs', file.sha256.slice(0, 2), file.sha256))).toBe(false);
  });

  it('the same bytes committed again while the last copy is expunged in the same turn keep their file (no 250 without bytes)', async () => {
    const content = 'retried by a peer after a lost 250\r\n\r\nbody';
    await store.mail.commit(sealedFile(content), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'first' }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    await store.mail.setFlags(inbox.id, [1], 'add', ['\\Deleted']);
    // The commit is queued for the next group transaction; the expunge runs before it.
    const again = store.mail.commit(sealedFile(content), [{ owner: A, mailbox: 'Sent', deliveryKey: 'again' }]);
    await store.mail.expunge(inbox.id);
    const { blobId } = await again;
    expect((await store.mail.getBlob(blobId))!.toString()).toBe(content);
  });

  it('a sealed item that filed documents point to stays when its last mailbox copy is expunged', async () => {
    const res = await store.mail.commit(sealedFile('filed for a record server\r\n\r\n'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k' }]);
    store.db.prepare(`INSERT INTO filing_documents (id, message_id, part_hash, part_enc, type, tab, doc_date, sender_address, blob_id, verified, filed_at)
      VALUES ('d1', '<m@x>', 'hash', 'v1:sealed', 'letter', 'letters', '2026-11-23', 'a@x.test', ?, 1, '2026-11-23T00:00:00Z')`).run(res.blobId);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    await store.mail.setFlags(inbox.id, [1], 'add', ['\\Deleted']);
    await store.mail.expunge(inbox.id);
    expect(await store.mail.getBlob(res.blobId)).toBeDefined();
  });
});
