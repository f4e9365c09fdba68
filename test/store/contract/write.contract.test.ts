import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { tempDir } from '../../helpers/gateway.js';
import { contract } from './stores.js';

const A = 'a@x.test';

/** Store.write: several mail calls as one transaction, on both stores. */
contract('store transactions (write)', (h, kind) => {
  const setup = async (): Promise<{ inbox: number; trash: number }> => {
    const { store } = h();
    await store.mail.commit(Buffer.from('one'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'w1' }]);
    await store.mail.commit(Buffer.from('two'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'w2' }]);
    return { inbox: (await store.mail.getMailbox(A, 'INBOX'))!.id, trash: (await store.mail.ensureMailbox(A, 'Trash')).id };
  };

  it('commits a copy, a flag change and an expunge together (a MOVE)', async () => {
    const { store } = h();
    const { inbox, trash } = await setup();
    const removed = await store.write(async (tx) => {
      for (const id of [inbox, trash].sort((a, b) => a - b)) expect(await tx.mail.lockMailbox(id)).toBeDefined();
      const mapping = await tx.mail.copyMessages(inbox, [1], trash);
      expect(mapping).toEqual([[1, 1]]);
      // The transaction sees its own writes.
      expect((await tx.mail.getMessages(trash, [1, 7])).map((m) => m.uid)).toEqual([1]);
      await tx.mail.setFlags(inbox, [1], 'add', ['\\Deleted']);
      return tx.mail.expunge(inbox, [1]);
    });
    expect(removed).toEqual([1]);
    expect((await store.mail.listMessages(inbox)).map((m) => m.uid)).toEqual([2]);
    expect((await store.mail.listMessages(trash)).map((m) => m.uid)).toEqual([1]);
    expect(await h().count('blobs')).toBe(2);
  });

  it('rolls everything back when the work throws: nothing of it is seen, and the store goes on', async () => {
    const { store } = h();
    const { inbox, trash } = await setup();
    const before = (await store.mail.getMailboxById(trash))!;
    await expect(store.write(async (tx) => {
      await tx.mail.copyMessages(inbox, [1, 2], trash);
      await tx.mail.setFlags(inbox, [1, 2], 'add', ['\\Deleted']);
      await tx.mail.expunge(inbox, [1, 2]);
      throw new Error('decided against it');
    })).rejects.toThrow('decided against it');
    expect((await store.mail.listMessages(inbox)).map((m) => [m.uid, m.flags])).toEqual([[1, []], [2, []]]);
    expect(await store.mail.listMessages(trash)).toEqual([]);
    expect(await store.mail.getMailboxById(trash)).toEqual(before); // no UID or MODSEQ consumed
    expect(await h().count('blobs')).toBe(2);
    // Writes after it (group commit included) work as before.
    await store.mail.setFlags(inbox, [1], 'add', ['\\Seen']);
    expect((await store.mail.getMessage(inbox, 1))!.flags).toEqual(['\\Seen']);
  });

  it('runs concurrent writes one after the other: a check and its write are never split (20 conditional changes from one MODSEQ, one wins)', async () => {
    const { store } = h();
    const { inbox } = await setup();
    const other = await h().another();
    const start = (await store.mail.getMessage(inbox, 1))!.modseq;
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? other : store).write(async (tx) => {
      await tx.mail.lockMailbox(inbox);
      const [m] = await tx.mail.getMessages(inbox, [1]);
      if (!m || m.modseq > start) return false;
      await tx.mail.setFlags(inbox, [1], 'add', [`$k${i}`]);
      return true;
    }, { durable: false })));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.mail.getMessage(inbox, 1))!.flags.filter((f) => f.startsWith('$k'))).toHaveLength(1);
  });

  it('commits several deliveries together (a record request\'s items), or none of them', async () => {
    const { store } = h();
    const items = [Buffer.from('item one'), Buffer.from('item two')];
    const queue = { id: 'q-together', envelopeFrom: 'rmp@x.test', messageId: '<q@x>', expiresAt: '2099-01-01T00:00:00.000Z', ret: null, envid: null,
      recipients: [{ recipient: 'doc@peer.test', notify: null, orcpt: null }] };
    await expect(store.write(async (tx) => {
      await tx.mail.commit(items[0]!, [{ owner: A, mailbox: 'INBOX', deliveryKey: 'r1' }]);
      await tx.mail.commit(items[1]!, [], queue);
      throw new Error('the third item could not be re-wrapped');
    })).rejects.toThrow('re-wrapped');
    expect(await store.mail.getMailbox(A, 'INBOX')).toBeUndefined(); // not even the mailbox it created
    expect(await store.queue.list()).toEqual([]);
    expect(await h().count('blobs')).toBe(0);
    const done = await store.write(async (tx) => [
      await tx.mail.commit(items[0]!, [{ owner: A, mailbox: 'INBOX', deliveryKey: 'r1' }, { owner: A, mailbox: 'INBOX', deliveryKey: 'r1b' }]),
      await tx.mail.commit(items[1]!, [], queue),
    ]);
    expect(done[0]!.placed.map((p) => [p.uid, p.duplicate])).toEqual([[1, false], [2, false]]);
    expect(done[1]!.queued).toBe(true);
    expect((await store.queue.list()).map((q) => q.id)).toEqual(['q-together']);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    expect((await store.mail.listMessages(inbox.id)).map((m) => m.uid)).toEqual([1, 2]);
    expect((await store.mail.getBlob(done[1]!.blobId))?.equals(items[1]!)).toBe(true);
  });

  it('inserts a message only when the check in the same transaction finds none (APPEND to Sent): 10 racing writers, one insert', async () => {
    const { store } = h();
    const sent = (await store.mail.ensureMailbox(A, 'Sent')).id;
    const other = await h().another();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).write(async (tx) => {
      await tx.mail.lockMailbox(sent);
      const [there] = await tx.mail.getMessages(sent, [1]);
      if (there) return { kept: there.uid };
      const done = await tx.mail.commit(Buffer.from('the copy'), [{ owner: A, mailbox: 'Sent', flags: ['\\Seen'], deliveryKey: `append:${i}` }]);
      return { inserted: done.placed[0]!.uid };
    })));
    expect(results.filter((r) => 'inserted' in r)).toEqual([{ inserted: 1 }]);
    expect(results.filter((r) => 'kept' in r)).toHaveLength(9);
    expect((await store.mail.listMessages(sent)).map((m) => [m.uid, m.flags])).toEqual([[1, ['\\Seen']]]);
  });

  it('a commit inside a transaction that then throws leaves no message, no blob and no UID consumed', async () => {
    const { store } = h();
    const sent = await store.mail.ensureMailbox(A, 'Sent');
    await expect(store.write(async (tx) => {
      await tx.mail.commit(Buffer.from('rolled back'), [{ owner: A, mailbox: 'Sent', deliveryKey: 'rb' }]);
      throw new Error('decided against it');
    })).rejects.toThrow('decided against it');
    expect(await store.mail.listMessages(sent.id)).toEqual([]);
    expect(await h().count('blobs')).toBe(0);
    expect(await store.mail.getMailboxById(sent.id)).toEqual(sent);
  });

  it.skipIf(kind !== 'sqlite')('SQLite: a work that waits on something else than the store is rolled back (STORE_TX_YIELDED)', async () => {
    const { store } = h();
    const { inbox } = await setup();
    await expect(store.write(async (tx) => {
      await tx.mail.setFlags(inbox, [1], 'add', ['\\Flagged']);
      await new Promise((r) => setTimeout(r, 5));
    })).rejects.toMatchObject({ code: 'STORE_TX_YIELDED' });
    expect((await store.mail.getMessage(inbox, 1))!.flags).toEqual([]);
  });

  it('commits a sealed file inside a transaction: rolled back, the file is left where it was; committed, it is the store\'s', async () => {
    const { store } = h();
    const dir = tempDir();
    try {
      const bytes = randomBytes(1_500_000);
      const file = path.join(dir, 'sealed.eml');
      fs.writeFileSync(file, bytes, { mode: 0o600 });
      const sealed = { path: file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      const placement = { owner: A, mailbox: 'INBOX', deliveryKey: 'large' };
      await expect(store.write(async (tx) => {
        await tx.mail.commit(sealed, [placement]);
        throw new Error('the filing rows failed');
      })).rejects.toThrow('the filing rows failed');
      // Nothing stored, nothing left in the blob files, and the file still there to deliver alone.
      expect(await store.mail.openBlob(sealed.sha256)).toBeUndefined();
      expect(await store.mail.removeOrphanBlobFiles()).toBe(0);
      expect(fs.readFileSync(file).equals(bytes)).toBe(true);

      const committed = await store.write((tx) => tx.mail.commit(sealed, [placement]));
      expect(committed.blobId).toBe(sealed.sha256);
      expect(fs.existsSync(file)).toBe(false); // moved into the blob files (SQLite) or streamed into the database (PostgreSQL)
      expect((await store.mail.getBlob(sealed.sha256))!.equals(bytes)).toBe(true);
      const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
      expect((await store.mail.listMessages(inbox.id)).map((m) => [m.uid, m.sealedSize])).toEqual([[1, bytes.length]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
