import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/gateway.js';

const A = 'a@x.test';
const B = 'b@x.test';

describe('SQLite mail and queue repositories', () => {
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

  it('commits a sealed message once into several mailboxes, idempotently per delivery key', async () => {
    const sealed = Buffer.from('sealed bytes 1');
    const first = await store.mail.commit(sealed, [
      { owner: A, mailbox: 'inbox', deliveryKey: 'q1:a' },
      { owner: B, mailbox: 'INBOX', deliveryKey: 'q1:b' },
      { owner: A, mailbox: 'Sent', flags: ['\\Seen'], deliveryKey: 'q1:sent' },
    ]);
    expect(first.placed.map((p) => [p.owner, p.mailbox, p.uid, p.duplicate])).toEqual([
      [A, 'INBOX', 1, false], [B, 'INBOX', 1, false], [A, 'Sent', 1, false],
    ]);
    const again = await store.mail.commit(sealed, [{ owner: A, mailbox: 'INBOX', deliveryKey: 'q1:a' }]);
    expect(again.placed[0]).toMatchObject({ uid: 1, duplicate: true });
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    expect(inbox.specialUse).toBe('\\Inbox');
    expect(inbox.uidNext).toBe(2);
    expect(await store.mail.listMessages(inbox.id)).toHaveLength(1);
    expect((await store.mail.getBlob(first.blobId))?.equals(sealed)).toBe(true);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM blobs').get()).toEqual({ n: 1 });
  });

  it('changes flags with modseq, copies and expunges, and frees unreferenced blobs', async () => {
    const { blobId } = await store.mail.commit(Buffer.from('m'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k1' }]);
    await store.mail.commit(Buffer.from('n'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k2' }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    const changed = await store.mail.setFlags(inbox.id, [1, 2], 'add', ['\\Seen', '\\Seen']);
    expect(changed.map((m) => [m.uid, m.flags])).toEqual([[1, ['\\Seen']], [2, ['\\Seen']]]);
    expect(await store.mail.setFlags(inbox.id, [1], 'add', ['\\Seen'])).toEqual([]);
    const archive = await store.mail.ensureMailbox(A, 'Archive');
    expect(await store.mail.copyMessages(inbox.id, [2, 1, 99], archive.id)).toEqual([[1, 1], [2, 2]]);
    await store.mail.setFlags(inbox.id, [1], 'add', ['\\Deleted']);
    expect(await store.mail.expunge(inbox.id)).toEqual([1]);
    expect(await store.mail.getBlob(blobId)).toBeDefined(); // still referenced by the copy
    await store.mail.deleteMailbox(A, 'Archive');
    expect(await store.mail.getBlob(blobId)).toBeUndefined();
  });

  it('claims \\Recent once: the watermark only rises, and a second claim of the same UIDs gets nothing', async () => {
    for (let i = 0; i < 3; i++) await store.mail.commit(Buffer.from(`r${i}`), [{ owner: A, mailbox: 'INBOX', deliveryKey: `r${i}` }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    expect(inbox.recentUid).toBe(0);
    // Two sessions selecting at once: one gets messages 1-2 as recent, the other none of them.
    const [first, second] = await Promise.all([store.mail.claimRecent(inbox.id, 2), store.mail.claimRecent(inbox.id, 2)]);
    expect([first, second].sort()).toEqual([0, 2]);
    expect(await store.mail.claimRecent(inbox.id, 1)).toBe(2); // never goes down
    expect(await store.mail.claimRecent(inbox.id, 3)).toBe(2); // message 3 is this caller's
    expect((await store.mail.getMailbox(A, 'INBOX'))!.recentUid).toBe(3);
  });

  it('keeps the subscription of a deleted mailbox (RFC 3501 §6.3.6); a client CREATE does not subscribe, re-creating a subscribed name does', async () => {
    await store.mail.ensureMailbox(A, 'Projets', undefined, { subscribed: false });
    expect((await store.mail.getMailbox(A, 'Projets'))!.subscribed).toBe(false);
    await store.mail.setSubscribed(A, 'Projets', true);
    await store.mail.deleteMailbox(A, 'Projets');
    expect(await store.mail.listOrphanSubscriptions(A)).toEqual(['Projets']);
    expect(await store.mail.listOrphanSubscriptions(B)).toEqual([]);
    await store.mail.ensureMailbox(A, 'Projets', undefined, { subscribed: false });
    expect((await store.mail.getMailbox(A, 'Projets'))!.subscribed).toBe(true);
    expect(await store.mail.listOrphanSubscriptions(A)).toEqual([]);
    await store.mail.deleteMailbox(A, 'Projets');
    await store.mail.setSubscribed(A, 'Projets', false); // UNSUBSCRIBE of a name whose mailbox is gone
    expect(await store.mail.listOrphanSubscriptions(A)).toEqual([]);
    await store.mail.ensureMailbox(A, 'Archives', undefined, { subscribed: false });
    await store.mail.deleteMailbox(A, 'Archives'); // never subscribed: nothing stays
    expect(await store.mail.listOrphanSubscriptions(A)).toEqual([]);
  });

  it('renames a mailbox with its children under a new UIDVALIDITY', async () => {
    const parent = await store.mail.ensureMailbox(A, 'Work');
    await store.mail.ensureMailbox(A, 'Work/2026');
    await store.mail.renameMailbox(A, 'Work', 'Old');
    const names = (await store.mail.listMailboxes(A)).map((m) => m.name);
    expect(names).toEqual(['Old', 'Old/2026']);
    expect((await store.mail.getMailbox(A, 'Old'))!.uidValidity).not.toBe(parent.uidValidity);
    await expect(store.mail.renameMailbox(A, 'Nope', 'X')).rejects.toMatchObject({ code: 'MAILBOX_UNKNOWN' });
  });

  it('queues remote recipients in the same commit and schedules them', async () => {
    const expiresAt = new Date(Date.now() + 86400_000).toISOString();
    await store.mail.commit(Buffer.from('remote'), [], {
      id: 'q-1', envelopeFrom: A, messageId: '<m1@x.test>', expiresAt, ret: 'HDRS', envid: 'E1',
      recipients: [{ recipient: 'C@Y.test', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;c@y.test' }],
    });
    const due = await store.queue.due(new Date(Date.now() + 1000), 10);
    expect(due).toHaveLength(1);
    expect(due[0]!.recipients[0]).toMatchObject({ recipient: 'c@y.test', notify: ['FAILURE', 'DELAY'], status: 'pending', attempts: 0 });
    await store.queue.updateRecipient('q-1', 'c@y.test', { attempts: 1, nextAttemptAt: new Date(Date.now() + 60_000).toISOString(), lastError: 'refused' });
    expect(await store.queue.due(new Date(), 10)).toHaveLength(0);
    expect(await store.queue.retryNow('q-1')).toBe(1);
    expect(await store.queue.due(new Date(Date.now() + 1000), 10)).toHaveLength(1);
    expect(await store.queue.remove('q-1')).toBe(true);
    expect(await store.queue.list()).toHaveLength(0);
    expect(store.db.prepare('SELECT COUNT(*) AS n FROM blobs').get()).toEqual({ n: 0 });
  });
});
