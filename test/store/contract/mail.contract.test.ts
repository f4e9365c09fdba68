import { expect, it } from 'vitest';
import { contract } from './stores.js';

const A = 'a@x.test';
const B = 'b@x.test';

contract('mailboxes and messages', (h, kind) => {
  it('commits a sealed message once into several mailboxes, idempotently per delivery key', async () => {
    const { store } = h();
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
    expect((await store.mail.getMessage(inbox.id, 1))).toMatchObject({ uid: 1, blobId: first.blobId, sealedSize: sealed.length, flags: [] });
    expect((await store.mail.listMessages((await store.mail.getMailbox(A, 'Sent'))!.id))[0]!.flags).toEqual(['\\Seen']);
    expect(await h().count('blobs')).toBe(1);
  });

  it('places in the same mailbox twice in one commit with distinct UIDs', async () => {
    const { store } = h();
    const res = await store.mail.commit(Buffer.from('twice'), [
      { owner: A, mailbox: 'INBOX', deliveryKey: 't1' }, { owner: A, mailbox: 'INBOX', deliveryKey: 't2' }, { owner: A, mailbox: 'INBOX', deliveryKey: 't1' },
    ]);
    expect(res.placed.map((p) => [p.uid, p.duplicate])).toEqual([[1, false], [2, false], [1, true]]);
  });

  it('changes flags with modseq, copies and expunges, and frees unreferenced blobs', async () => {
    const { store } = h();
    const { blobId } = await store.mail.commit(Buffer.from('m'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k1' }]);
    await store.mail.commit(Buffer.from('n'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'k2' }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    const changed = await store.mail.setFlags(inbox.id, [1, 2], 'add', ['\\Seen', '\\Seen']);
    expect(changed.map((m) => [m.uid, m.flags])).toEqual([[1, ['\\Seen']], [2, ['\\Seen']]]);
    expect(changed[1]!.modseq).toBeGreaterThan(changed[0]!.modseq);
    expect((await store.mail.getMailbox(A, 'INBOX'))!.highestModseq).toBe(changed[1]!.modseq);
    expect(await store.mail.setFlags(inbox.id, [1], 'add', ['\\Seen'])).toEqual([]);
    expect((await store.mail.setFlags(inbox.id, [2], 'remove', ['\\Seen']))[0]!.flags).toEqual([]);
    expect((await store.mail.setFlags(inbox.id, [2], 'set', ['b', 'a']))[0]!.flags).toEqual(['a', 'b']);
    const archive = await store.mail.ensureMailbox(A, 'Archive');
    expect(await store.mail.copyMessages(inbox.id, [2, 1, 99], archive.id)).toEqual([[1, 1], [2, 2]]);
    expect((await store.mail.getMailboxById(archive.id))!.uidNext).toBe(3);
    await store.mail.setFlags(inbox.id, [1], 'add', ['\\Deleted']);
    const before = (await store.mail.getMailbox(A, 'INBOX'))!.highestModseq;
    expect(await store.mail.expunge(inbox.id)).toEqual([1]);
    expect((await store.mail.getMailbox(A, 'INBOX'))!.highestModseq).toBeGreaterThan(before);
    expect(await store.mail.expunge(inbox.id)).toEqual([]);
    expect(await store.mail.getBlob(blobId)).toBeDefined(); // still referenced by the copy
    await store.mail.deleteMailbox(A, 'Archive');
    expect(await store.mail.getBlob(blobId)).toBeUndefined();
    await expect(store.mail.setFlags(9999, [1], 'add', ['x'])).rejects.toMatchObject({ code: 'MAILBOX_UNKNOWN' });
  });

  it('expunges only the UIDs asked for among the \\Deleted ones', async () => {
    const { store } = h();
    for (let i = 1; i <= 3; i++) await store.mail.commit(Buffer.from(`e${i}`), [{ owner: A, mailbox: 'INBOX', flags: ['\\Deleted'], deliveryKey: `e${i}` }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    expect(await store.mail.expunge(inbox.id, [2, 3])).toEqual([2, 3]);
    expect((await store.mail.listMessages(inbox.id)).map((m) => m.uid)).toEqual([1]);
    expect(await h().count('blobs')).toBe(1);
  });

  it('counts what STATUS reports in one read, a flag counted only as a whole word, and expunges exactly the \\Deleted ones', async () => {
    const { store } = h();
    const empty = await store.mail.ensureMailbox(A, 'Empty');
    expect(await store.mail.countMessages(empty.id)).toEqual({ messages: 0, unseen: 0, deleted: 0, recent: 0, uidNext: 1, highestModseq: empty.highestModseq });
    expect(await store.mail.countMessages(999_999)).toBeUndefined();
    // Look-alikes of the system flags (RFC 3501 flag-extension) must not count as them.
    const pool = ['\\Seen', '\\Deleted', '\\Flagged', '$Label1', '\\Seenx', '\\DeletedLater', 'Deleted'];
    let seed = 7;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 1; i <= 40; i++) {
      const flags = pool.filter(() => next() % 3 === 0);
      await store.mail.commit(Buffer.from(`count ${i}`), [{ owner: A, mailbox: 'INBOX', flags, deliveryKey: `count${i}` }]);
    }
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    await store.mail.claimRecent(inbox.id, 25);
    const rows = await store.mail.listMessages(inbox.id);
    const fresh = (await store.mail.getMailboxById(inbox.id))!;
    const expected = {
      messages: rows.length,
      unseen: rows.filter((m) => !m.flags.includes('\\Seen')).length,
      deleted: rows.filter((m) => m.flags.includes('\\Deleted')).length,
      recent: rows.filter((m) => m.uid > 25).length,
      uidNext: fresh.uidNext,
      highestModseq: fresh.highestModseq,
    };
    expect(expected.deleted).toBeGreaterThan(0);
    expect(expected.unseen).toBeGreaterThan(0);
    expect(await store.mail.countMessages(inbox.id)).toEqual(expected);
    const deletedUids = rows.filter((m) => m.flags.includes('\\Deleted')).map((m) => m.uid);
    expect(await store.mail.expunge(inbox.id)).toEqual(deletedUids);
    expect((await store.mail.listMessages(inbox.id)).map((m) => m.uid)).toEqual(rows.filter((m) => !m.flags.includes('\\Deleted')).map((m) => m.uid));
    expect((await store.mail.countMessages(inbox.id))!.deleted).toBe(0);
  });

  it('claims \\Recent once: the watermark only rises, and a second claim of the same UIDs gets nothing', async () => {
    const { store } = h();
    for (let i = 0; i < 3; i++) await store.mail.commit(Buffer.from(`r${i}`), [{ owner: A, mailbox: 'INBOX', deliveryKey: `r${i}` }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    expect(inbox.recentUid).toBe(0);
    const [first, second] = await Promise.all([store.mail.claimRecent(inbox.id, 2), store.mail.claimRecent(inbox.id, 2)]);
    expect([first, second].sort()).toEqual([0, 2]);
    expect(await store.mail.claimRecent(inbox.id, 1)).toBe(2); // never goes down
    expect(await store.mail.claimRecent(inbox.id, 3)).toBe(2); // message 3 is this caller's
    expect((await store.mail.getMailbox(A, 'INBOX'))!.recentUid).toBe(3);
  });

  it('claims \\Recent once across two store instances', async () => {
    const { store } = h();
    const other = await h().another();
    await store.mail.commit(Buffer.from('r'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'r' }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).mail.claimRecent(inbox.id, 1)));
    expect(results.filter((r) => r === 0)).toHaveLength(1);
  });

  it('keeps the subscription of a deleted mailbox (RFC 3501 §6.3.6); a client CREATE does not subscribe, re-creating a subscribed name does', async () => {
    const { store } = h();
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
    await expect(store.mail.deleteMailbox(A, 'Archives')).rejects.toMatchObject({ code: 'MAILBOX_UNKNOWN' });
  });

  it('ensureMailbox racing itself (two instances) makes one mailbox', async () => {
    const { store } = h();
    const other = await h().another();
    const made = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : store).mail.ensureMailbox(A, 'Race')));
    expect(new Set(made.map((m) => m.id)).size).toBe(1);
    expect((await store.mail.listMailboxes(A)).map((m) => m.name)).toEqual(['Race']);
  });

  it('renames a mailbox with its children under a new UIDVALIDITY, and a re-created name gets a new one', async () => {
    const { store } = h();
    const parent = await store.mail.ensureMailbox(A, 'Work');
    await store.mail.ensureMailbox(A, 'Work/2026');
    await store.mail.ensureMailbox(A, 'Workshop');
    await store.mail.renameMailbox(A, 'Work', 'Old');
    expect((await store.mail.listMailboxes(A)).map((m) => m.name)).toEqual(['Old', 'Old/2026', 'Workshop']);
    expect((await store.mail.getMailbox(A, 'Old'))!.uidValidity).not.toBe(parent.uidValidity);
    await expect(store.mail.renameMailbox(A, 'Nope', 'X')).rejects.toMatchObject({ code: 'MAILBOX_UNKNOWN' });
    await expect(store.mail.renameMailbox(A, 'Old', 'Workshop')).rejects.toMatchObject({ code: 'MAILBOX_EXISTS' });
    const x = await store.mail.ensureMailbox(A, 'Tmp');
    await store.mail.deleteMailbox(A, 'Tmp');
    expect((await store.mail.ensureMailbox(A, 'Tmp')).uidValidity).not.toBe(x.uidValidity);
  });

  it('keeps encrypted metadata per owner and blob', async () => {
    const { store } = h();
    await store.mail.putMeta(A, 'b1', 'enc1');
    await store.mail.putMeta(A, 'b1', 'enc2');
    expect(await store.mail.getMeta('A@X.test', 'b1')).toBe('enc2');
    expect(await store.mail.getMeta(B, 'b1')).toBeUndefined();
  });

  it('allocates distinct UIDs to 50 concurrent commits into one mailbox from two store instances', async () => {
    const { store } = h();
    const other = await h().another();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? other : store).mail.commit(Buffer.from(`c${i}`), [
      { owner: A, mailbox: 'INBOX', deliveryKey: `c${i}` }, { owner: B, mailbox: 'INBOX', deliveryKey: `c${i}` },
    ])));
    const uids = results.map((r) => r.placed[0]!.uid);
    expect(new Set(uids).size).toBe(50);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    const stored = await store.mail.listMessages(inbox.id);
    expect(stored).toHaveLength(50);
    expect(new Set(stored.map((m) => m.modseq)).size).toBe(50);
    expect(inbox.uidNext).toBe(Math.max(...uids) + 1);
    expect(inbox.highestModseq).toBe(Math.max(...stored.map((m) => m.modseq)));
  });

  it('a delivery key committed from two instances at once is placed once, the other reported duplicate', async () => {
    const { store } = h();
    const other = await h().another();
    await store.mail.ensureMailbox(A, 'INBOX');
    for (let round = 0; round < 5; round++) {
      const res = await Promise.all([store, other, store, other].map((s, i) => s.mail.commit(Buffer.from(`dup${round}:${i}`), [{ owner: A, mailbox: 'INBOX', deliveryKey: `same${round}` }])));
      expect(res.filter((r) => !r.placed[0]!.duplicate)).toHaveLength(1);
      expect(new Set(res.map((r) => r.placed[0]!.uid)).size).toBe(1);
    }
    expect(await store.mail.listMessages((await store.mail.getMailbox(A, 'INBOX'))!.id)).toHaveLength(5);
    // The copies that lost kept no blob behind... unless a message refers to it.
    void kind;
  });

  it('setFlags from two instances on one mailbox keeps MODSEQ strictly increasing and loses no flag', async () => {
    const { store } = h();
    const other = await h().another();
    for (let i = 0; i < 4; i++) await store.mail.commit(Buffer.from(`f${i}`), [{ owner: A, mailbox: 'INBOX', deliveryKey: `f${i}` }]);
    const inbox = (await store.mail.getMailbox(A, 'INBOX'))!;
    const flags = ['\\Seen', '\\Flagged', '\\Answered', 'x1', 'x2', 'x3'];
    const changes = await Promise.all(flags.map((f, i) => (i % 2 ? other : store).mail.setFlags(inbox.id, [1, 2, 3, 4], 'add', [f])));
    const modseqs = changes.flat().map((m) => m.modseq);
    expect(new Set(modseqs).size).toBe(modseqs.length);
    for (const m of await store.mail.listMessages(inbox.id)) expect(m.flags).toEqual([...flags].sort());
  });
  it('records the owners\' metadata entries (Placement.meta) in the commit\'s transaction, or not at all', async () => {
    const { store } = h();
    await store.mail.ensureMailbox(A, 'INBOX');
    // Every mailbox there (PostgreSQL: the one-statement commit), a mailbox made by the commit (its
    // transaction path), the same owner twice in one commit, and another owner without an entry.
    const atOnce = await store.mail.commit(Buffer.from('meta 1'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'm1', meta: 'enc-1' }]);
    expect(await store.mail.getMeta(A, atOnce.blobId)).toBe('enc-1');
    const made = await store.mail.commit(Buffer.from('meta 2'), [
      { owner: 'Mixed@X.test', mailbox: 'Drafts', deliveryKey: 'm2', meta: 'enc-2' },
      { owner: 'mixed@x.test', mailbox: 'Archive/2026', deliveryKey: 'm2b', meta: 'enc-2' },
      { owner: B, mailbox: 'INBOX', deliveryKey: 'm2c' },
    ]);
    expect(made.placed.map((p) => p.duplicate)).toEqual([false, false, false]);
    expect(await store.mail.getMeta('mixed@x.test', made.blobId)).toBe('enc-2');
    expect(await store.mail.getMeta(B, made.blobId)).toBeUndefined();
    // A delivery retried after a crash writes the same entry again (no error, one row).
    const again = await store.mail.commit(Buffer.from('meta 1'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'm1', meta: 'enc-1' }]);
    expect(again.placed[0]!.duplicate).toBe(true);
    expect(await store.mail.getMeta(A, atOnce.blobId)).toBe('enc-1');
    // Inside Store.write: committed with the transaction, gone with its rollback.
    const inTx = await store.write(async (tx) => tx.mail.commit(Buffer.from('meta 3'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'm3', meta: 'enc-3' }]));
    expect(await store.mail.getMeta(A, inTx.blobId)).toBe('enc-3');
    let rolledBack: string | undefined;
    await expect(store.write(async (tx) => {
      rolledBack = (await tx.mail.commit(Buffer.from('meta 4'), [{ owner: A, mailbox: 'INBOX', deliveryKey: 'm4', meta: 'enc-4' }])).blobId;
      throw new Error('decided otherwise');
    })).rejects.toThrow('decided otherwise');
    expect(rolledBack).toBeDefined();
    expect(await store.mail.getMeta(A, rolledBack!)).toBeUndefined();
    expect((await store.mail.listMessages((await store.mail.getMailbox(A, 'INBOX'))!.id)).map((m) => m.blobId)).toEqual([atOnce.blobId, inTx.blobId]);
  });

  it('gives a placement\'s entry the blob id the commit computed, lists an owner\'s entries by page and rewrites only those unchanged', async () => {
    const { store } = h();
    const owner = 'pager@x.test';
    await store.mail.ensureMailbox(owner, 'INBOX');
    const seen: string[] = [];
    const placed = await store.mail.commit(Buffer.from('bound entry'), [{ owner, mailbox: 'INBOX', deliveryKey: 'p0', meta: (blobId) => { seen.push(blobId); return `for ${blobId}`; } }]);
    expect(seen).toEqual([placed.blobId]);
    expect(await store.mail.getMeta(owner, placed.blobId)).toBe(`for ${placed.blobId}`);
    const keys = ['mbx:b', 'mbx:a', 'mbx:c', 'mbx:e', 'mbx:d'];
    for (const k of keys) await store.mail.putMeta(owner, k, `old ${k}`);
    await store.mail.putMeta('other@x.test', 'mbx:a', 'not his');
    const all: string[] = [];
    for (let after = '', page; (page = await store.mail.listMeta(owner, after, 2)).length; after = page[page.length - 1]!.key) {
      expect(page.length).toBeLessThanOrEqual(2);
      all.push(...page.map((e) => e.key));
    }
    expect(all.sort()).toEqual([...keys, placed.blobId].sort());
    expect(new Set(all).size).toBe(all.length);
    // One entry changed since it was read: kept as the other writer left it.
    await store.mail.putMeta(owner, 'mbx:c', 'newer mbx:c');
    const n = await store.mail.replaceMeta(owner, keys.map((k) => ({ key: k, expected: `old ${k}`, data: `bound ${k}` })));
    expect(n).toBe(4);
    expect(await store.mail.getMeta(owner, 'mbx:c')).toBe('newer mbx:c');
    expect(await store.mail.getMeta(owner, 'mbx:a')).toBe('bound mbx:a');
    expect(await store.mail.getMeta('other@x.test', 'mbx:a')).toBe('not his');
    expect(await store.mail.replaceMeta(owner, [])).toBe(0);
  });
});
