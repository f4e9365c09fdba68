import { expect, it } from 'vitest';
import type { NewQueueItem } from '../../../src/store/types.js';
import { contract } from './stores.js';

const A = 'a@x.test';
const item = (id: string, recipients = ['C@Y.test']): NewQueueItem => ({
  id, envelopeFrom: A, messageId: `<${id}@x.test>`, expiresAt: new Date(Date.now() + 86400_000).toISOString(), ret: 'HDRS', envid: 'E1',
  recipients: recipients.map((r) => ({ recipient: r, notify: ['FAILURE', 'DELAY'], orcpt: `rfc822;${r.toLowerCase()}` })),
});

contract('delivery queue', (h) => {
  it('a commit that must create one of its mailboxes writes the blob, the queue item and every placement exactly once', async () => {
    const { store } = h();
    await store.mail.commit(Buffer.from('first'), [{ owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'm0' }]);
    // INBOX exists, Sent does not: on PostgreSQL the one-statement commit writes nothing and the transaction does it all.
    const res = await store.mail.commit(Buffer.from('second'), [
      { owner: 'a@x.test', mailbox: 'INBOX', deliveryKey: 'm1:in' }, { owner: 'a@x.test', mailbox: 'Sent', deliveryKey: 'm1:sent' },
    ], item('q-new-mb', ['C@Y.test', 'D@Y.test']));
    expect(res.placed.map((p) => [p.mailbox, p.uid, p.duplicate])).toEqual([['INBOX', 2, false], ['Sent', 1, false]]);
    expect(res.queued).toBe(true);
    const queued = (await store.queue.get('q-new-mb'))!;
    expect(queued.recipients.map((r) => r.recipient)).toEqual(['c@y.test', 'd@y.test']);
    expect(queued.blobId).toBe(res.blobId);
    expect((await store.mail.getBlob(res.blobId))?.toString()).toBe('second');
    expect(await store.mail.listMessages((await store.mail.getMailbox('a@x.test', 'INBOX'))!.id)).toHaveLength(2);
    expect(await store.mail.listMessages((await store.mail.getMailbox('a@x.test', 'Sent'))!.id)).toHaveLength(1);
    expect(await h().count('blobs')).toBe(2);
  });

  it('queues remote recipients in the same commit and schedules them', async () => {
    const { store } = h();
    const res = await store.mail.commit(Buffer.from('remote'), [], item('q-1'));
    expect(res).toMatchObject({ queued: true, placed: [] });
    const due = await store.queue.due(new Date(Date.now() + 1000), 10);
    expect(due).toHaveLength(1);
    expect(due[0]).toMatchObject({ id: 'q-1', envelopeFrom: A, messageId: '<q-1@x.test>', ret: 'HDRS', envid: 'E1', blobId: res.blobId });
    expect(due[0]!.recipients[0]).toMatchObject({ recipient: 'c@y.test', notify: ['FAILURE', 'DELAY'], orcpt: 'rfc822;c@y.test', status: 'pending', attempts: 0, delayNotified: false, lastError: null });
    await store.queue.updateRecipient('q-1', 'c@y.test', { attempts: 1, nextAttemptAt: new Date(Date.now() + 60_000).toISOString(), lastError: 'refused', delayNotified: true, notify: null });
    expect((await store.queue.get('q-1'))!.recipients[0]).toMatchObject({ attempts: 1, lastError: 'refused', delayNotified: true, notify: null });
    expect(await store.queue.due(new Date(), 10)).toHaveLength(0);
    expect(await store.queue.retryNow('q-1')).toBe(1);
    expect(await store.queue.due(new Date(Date.now() + 1000), 10)).toHaveLength(1);
    await store.queue.updateRecipient('q-1', 'c@y.test', { status: 'failed' });
    expect(await store.queue.retryNow('q-1')).toBe(0);
    expect(await store.queue.retryNow('q-1', true)).toBe(1);
    expect(await store.queue.remove('q-1')).toBe(true);
    expect(await store.queue.remove('q-1')).toBe(false);
    expect(await store.queue.list()).toHaveLength(0);
    expect(await h().count('blobs')).toBe(0);
  });

  it('keeps a blob a message still refers to when its queue item goes', async () => {
    const { store } = h();
    const res = await store.mail.commit(Buffer.from('both'), [{ owner: A, mailbox: 'Sent', deliveryKey: 's' }], item('q-2'));
    await store.queue.remove('q-2');
    expect(await store.mail.getBlob(res.blobId)).toBeDefined();
  });

  it('counts recipients by status (depth)', async () => {
    const { store } = h();
    expect(await store.queue.depth()).toEqual({ pending: 0, delivered: 0, failed: 0 });
    await store.mail.commit(Buffer.from('d'), [], item('q-3', ['a@y.test', 'b@y.test', 'c@y.test']));
    await store.queue.updateRecipient('q-3', 'a@y.test', { status: 'delivered' });
    await store.queue.updateRecipient('q-3', 'b@y.test', { status: 'failed' });
    expect(await store.queue.depth()).toEqual({ pending: 1, delivered: 1, failed: 1 });
  });

  it('leases claimed items: another owner skips them until the lease expires; the owner may re-claim and renew', async () => {
    const { store } = h();
    const other = await h().another();
    for (let i = 0; i < 4; i++) await store.mail.commit(Buffer.from(`l${i}`), [], item(`l-${i}`));
    const now = new Date(Date.now() + 1000);
    const a = await store.queue.claim(now, 3, 'node-a', 30_000);
    expect(a.map((i) => i.id).sort()).toEqual(['l-0', 'l-1', 'l-2']);
    expect(a[0]!.recipients).toHaveLength(1);
    // The lease is part of the item as read back: who holds it, and until when.
    expect((await other.queue.get('l-0'))!.lease).toEqual({ owner: 'node-a', until: new Date(now.getTime() + 30_000).toISOString() });
    const b = await other.queue.claim(now, 10, 'node-b', 30_000);
    expect(b.map((i) => i.id)).toEqual(['l-3']);
    expect(await other.queue.claim(now, 10, 'node-b', 30_000)).toHaveLength(1); // its own again
    expect((await store.queue.claim(now, 10, 'node-a', 30_000)).map((i) => i.id).sort()).toEqual(['l-0', 'l-1', 'l-2']);
    // Renewed by its owner only: node-b's attempt to renew node-a's items does nothing.
    await other.queue.renew(['l-0'], 'node-b', 120_000, now);
    await store.queue.renew(['l-1'], 'node-a', 120_000, now);
    const later = new Date(now.getTime() + 60_000); // past the first lease, before the renewed one
    expect((await other.queue.claim(later, 10, 'node-b', 30_000)).map((i) => i.id).sort()).toEqual(['l-0', 'l-2', 'l-3']);
    await store.queue.release('l-1', 'node-b'); // not its lease: kept
    expect(await other.queue.claim(later, 10, 'node-c', 30_000)).toHaveLength(0);
    await store.queue.release('l-1', 'node-a');
    expect((await other.queue.get('l-1'))!.lease).toBeNull();
    expect((await other.queue.claim(later, 10, 'node-c', 30_000)).map((i) => i.id)).toEqual(['l-1']);
    // due() lists leased items too.
    expect(await store.queue.due(later, 10)).toHaveLength(4);
  });

  it('claims each item once when two instances claim at the same time', async () => {
    const { store } = h();
    const other = await h().another();
    for (let i = 0; i < 20; i++) await store.mail.commit(Buffer.from(`c${i}`), [], item(`c-${i}`));
    const now = new Date(Date.now() + 1000);
    const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? other : store).queue.claim(now, 3, `node-${i}`, 30_000)));
    const ids = claims.flat().map((i) => i.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toHaveLength(20);
  });
});
