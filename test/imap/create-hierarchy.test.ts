/**
 * CREATE of a name whose superior levels do not exist (RFC 3501 §6.3.3): the store backend creates
 * them as real, selectable mailboxes, as the memory backend and Dovecot do, in the same transaction
 * as the mailbox itself. Spoken to with imapflow, on both stores.
 */
import type { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { simpleMessage } from './fixtures.js';
import { startStoreHarness, type StoreHarness } from './store-harness.js';
import { describeOnStores } from '../helpers/stores.js';

describeOnStores('CREATE makes the superior hierarchy levels', (store) => {
  let h: StoreHarness;
  let a: ImapFlow;
  let b: ImapFlow;

  beforeAll(async () => {
    h = await startStoreHarness(store);
    [a, b] = [await h.client(), await h.client()];
  }, 60_000);
  afterAll(async () => h?.close());

  it('CREATE Projets/2026/Mars: Projets and Projets/2026 are mailboxes one can select and append to, not subscribed', async () => {
    expect(await a.mailboxCreate('Projets/2026/Mars')).toMatchObject({ created: true });
    const listed = new Map((await b.list()).map((m) => [m.path, m]));
    for (const name of ['Projets', 'Projets/2026', 'Projets/2026/Mars']) {
      const entry = listed.get(name);
      expect(entry, name).toBeDefined();
      expect([...entry!.flags], name).not.toContain('\\Noselect');
      expect([...entry!.flags], name).not.toContain('\\NonExistent');
    }
    // CREATE subscribes nothing (RFC 3501 §6.3.3); imapflow SUBSCRIBEs the name it created, not the levels above.
    expect(listed.get('Projets/2026/Mars')!.subscribed).toBe(true);
    expect([listed.get('Projets')!.subscribed, listed.get('Projets/2026')!.subscribed]).toEqual([undefined, undefined]); // imapflow: undefined when not in LSUB
    expect([...listed.get('Projets')!.flags]).toContain('\\HasChildren');

    const opened = await b.mailboxOpen('Projets/2026');
    expect(opened.exists).toBe(0);
    await a.append('Projets', simpleMessage({ subject: 'au niveau du dessus', body: 'x' }));
    expect((await b.status('Projets', { messages: true })).messages).toBe(1);
    // The levels are mailboxes of their own: deleting the leaf leaves them, still selectable.
    await a.mailboxDelete('Projets/2026/Mars');
    const after = new Map((await b.list()).map((m) => [m.path, m]));
    expect(after.has('Projets/2026/Mars')).toBe(false);
    expect([...after.get('Projets/2026')!.flags]).not.toContain('\\Noselect');
    await b.mailboxOpen('Projets/2026');
  });

  it('two clients CREATE the same deep name at once: one OK, one ALREADYEXISTS, one set of mailboxes', async () => {
    const [x, y] = await Promise.all([a.mailboxCreate('Course/A/B'), b.mailboxCreate('Course/A/B')]);
    expect([x.created, y.created].sort()).toEqual([false, true]);
    const names = (await a.list()).map((m) => m.path).filter((p) => p.startsWith('Course'));
    expect(names.sort()).toEqual(['Course', 'Course/A', 'Course/A/B']);
    for (const name of names) await b.mailboxOpen(name);
  });

  it('CREATE of an existing name is ALREADYEXISTS and adds nothing; under an existing parent, only the missing levels', async () => {
    await a.mailboxCreate('Dossiers');
    expect(await a.mailboxCreate('Dossiers')).toMatchObject({ created: false });
    expect(await a.mailboxCreate('Dossiers/X/Y')).toMatchObject({ created: true });
    const names = (await b.list()).map((m) => m.path).filter((p) => p.startsWith('Dossiers'));
    expect(names.sort()).toEqual(['Dossiers', 'Dossiers/X', 'Dossiers/X/Y']);
    await b.mailboxOpen('Dossiers/X');
  });
});
