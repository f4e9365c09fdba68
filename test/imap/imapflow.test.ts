import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartWithPdf, PDF_BYTES, simpleMessage } from './fixtures.js';
import { startHarness, USER } from './harness.js';
import { startStoreHarness } from './store-harness.js';
import { describeOnStores, type StoreKind } from '../helpers/stores.js';

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

type AnyHarness = Pick<Awaited<ReturnType<typeof startHarness>>, 'tlsPort' | 'client' | 'close'> & { backend: { deliver(user: string, mailbox: string, raw: Buffer, flags?: string[]): Promise<unknown> } };

// The same suite on the memory backend and on both stores (StoreUserSession).
describe('imapflow client [memory]', () => suite('memory'));
describeOnStores('imapflow client', (store) => suite(store));

function suite(backend: 'memory' | StoreKind): void {
  let h: AnyHarness;

  beforeAll(async () => {
    h = backend === 'memory' ? await startHarness() : await startStoreHarness(backend);
  });

  afterAll(async () => {
    await h.close();
  });

  describe('IMAP server with imapflow', () => {
    // The memory harness's onAuthEvent hook (h.authEvents): the gateway records logins in its audit trail instead.
    it.skipIf(backend !== 'memory')('logs in over implicit TLS and lists mailboxes with special-use attributes', async () => {
      const client = await h.client();
      const list = await client.list();
      const byPath = new Map(list.map((m) => [m.path, m]));
      expect([...byPath.keys()].sort()).toEqual(['Drafts', 'INBOX', 'Junk', 'Sent', 'Trash']);
      expect(byPath.get('Sent')?.specialUse).toBe('\\Sent');
      expect(byPath.get('Trash')?.specialUse).toBe('\\Trash');
      expect(byPath.get('INBOX')?.flags.has('\\HasNoChildren')).toBe(true);
      expect(h.authEvents.some((e) => e.type === 'success' && e.user === USER && e.mechanism === 'PLAIN')).toBe(true);
    });

    it('upgrades with STARTTLS on the clear-text port before logging in', async () => {
      const { ImapFlow } = await import('imapflow');
      const client = new ImapFlow({ host: '127.0.0.1', port: h.starttlsPort, secure: false, tls: { rejectUnauthorized: false }, auth: { user: USER, pass: 'correct horse battery staple' }, logger: false });
      client.on('error', () => {});
      await client.connect();
      // LOGIN/AUTHENTICATE are refused in clear text, so being logged in already proves the upgrade.
      expect((client as unknown as { socket?: { encrypted?: boolean } }).socket?.encrypted).toBe(true);
      const status = await client.status('INBOX', { messages: true });
      expect(status.messages).toBeTypeOf('number');
      await client.logout();
    });

    // The memory harness's onAuthEvent hook (h.authEvents): the gateway records logins in its audit trail instead.
    it.skipIf(backend !== 'memory')('rejects a wrong password and reports it to onAuthEvent', async () => {
      await expect(h.client({ pass: 'wrong' })).rejects.toThrow();
      expect(h.authEvents.some((e) => e.type === 'failure' && e.user === USER)).toBe(true);
    });

    it('creates, renames, subscribes and deletes mailboxes (with UTF-7 names)', async () => {
      const client = await h.client();
      await client.mailboxCreate('Patients/DUPONT Zoé');
      let list = await client.list();
      expect(list.map((m) => m.path)).toContain('Patients/DUPONT Zoé');
      expect(list.find((m) => m.path === 'Patients')?.flags.has('\\HasChildren')).toBe(true);
      await client.mailboxRename('Patients/DUPONT Zoé', 'Patients/DURAND Zoé');
      list = await client.list();
      expect(list.map((m) => m.path)).toContain('Patients/DURAND Zoé');
      await client.mailboxUnsubscribe('Patients/DURAND Zoé');
      const subscribed = await client.list({ statusQuery: { messages: true } });
      expect(subscribed.find((m) => m.path === 'INBOX')?.status?.messages).toBeTypeOf('number');
      await client.mailboxDelete('Patients/DURAND Zoé');
      list = await client.list();
      expect(list.map((m) => m.path)).not.toContain('Patients/DURAND Zoé');
      await expect(client.mailboxDelete('INBOX')).rejects.toThrow();
    });

    it('appends a message and fetches it back byte-identical', async () => {
      const client = await h.client();
      const raw = multipartWithPdf('byte identical');
      const appended = await client.append('INBOX', raw, ['\\Flagged'], new Date('2026-03-02T09:00:00Z'));
      expect(appended && appended.uid).toBeGreaterThan(0);
      const lock = await client.getMailboxLock('INBOX');
      try {
        const message = await client.fetchOne(String((appended as { uid: number }).uid), { source: true, flags: true, internalDate: true, size: true }, { uid: true });
        expect(message).toBeTruthy();
        if (!message) return;
        expect(sha256(message.source as Buffer)).toBe(sha256(raw));
        expect(message.size).toBe(raw.length);
        expect([...(message.flags ?? [])]).toContain('\\Flagged');
        expect((message.internalDate as Date).toISOString()).toBe('2026-03-02T09:00:00.000Z');
      } finally {
        lock.release();
      }
    });

    it('returns ENVELOPE and BODYSTRUCTURE of a multipart message with a PDF attachment', async () => {
      const client = await h.client();
      const { uid } = (await client.append('INBOX', multipartWithPdf('structure test'))) as { uid: number };
      const lock = await client.getMailboxLock('INBOX');
      try {
        const message = await client.fetchOne(String(uid), { envelope: true, bodyStructure: true }, { uid: true });
        if (!message) throw new Error('not fetched');
        expect(message.envelope?.subject).toBe('structure test');
        expect(message.envelope?.from?.[0]).toMatchObject({ name: 'Dr Alice Martin', address: 'alice@cabinet.example' });
        expect(message.envelope?.messageId).toBe('<abc123@cabinet.example>');
        const structure = message.bodyStructure;
        expect(structure?.type).toBe('multipart/mixed');
        const pdf = structure?.childNodes?.[1];
        expect(pdf?.type).toBe('application/pdf');
        expect(pdf?.part).toBe('2');
        expect(pdf?.disposition).toBe('attachment');
        expect(pdf?.dispositionParameters?.filename).toBe('cr.pdf');
        expect(structure?.childNodes?.[0]?.childNodes?.[0]?.type).toBe('text/plain');
        expect(structure?.childNodes?.[2]?.type).toBe('message/rfc822');

        const { content } = await client.download(String(uid), '2', { uid: true });
        const chunks: Buffer[] = [];
        for await (const chunk of content) chunks.push(chunk as Buffer);
        expect(Buffer.concat(chunks).equals(PDF_BYTES)).toBe(true);

        const parts = await client.fetchOne(String(uid), { bodyParts: ['1.1', '3.header'], headers: ['subject'] }, { uid: true });
        if (!parts) throw new Error('not fetched');
        expect(parts.bodyParts?.get('1.1')?.toString()).toBe('R=C3=A9sultat normal.\r\nDeuxi=C3=A8me ligne.');
        expect(parts.bodyParts?.get('3.header')?.toString()).toBe('From: eve@lab.example\r\nSubject: inner message\r\n\r\n');
        expect(parts.headers?.toString()).toBe('Subject: structure test\r\n\r\n');
      } finally {
        lock.release();
      }
    });

    it('stores flags, copies, moves and expunges', async () => {
      const client = await h.client();
      await client.mailboxCreate('Archive-test');
      const a = (await client.append('INBOX', simpleMessage({ subject: 'to copy', body: 'copy me' }))) as { uid: number };
      const b = (await client.append('INBOX', simpleMessage({ subject: 'to move', body: 'move me' }))) as { uid: number };
      const c = (await client.append('INBOX', simpleMessage({ subject: 'to delete', body: 'delete me' }))) as { uid: number };
      const lock = await client.getMailboxLock('INBOX');
      try {
        expect(await client.messageFlagsAdd(String(a.uid), ['\\Seen', '$Urgent'], { uid: true })).toBe(true);
        let fetched = await client.fetchOne(String(a.uid), { flags: true }, { uid: true });
        expect([...(fetched ? fetched.flags ?? [] : [])].sort()).toEqual(['$Urgent', '\\Seen']);
        await client.messageFlagsRemove(String(a.uid), ['$Urgent'], { uid: true });
        fetched = await client.fetchOne(String(a.uid), { flags: true }, { uid: true });
        expect([...(fetched ? fetched.flags ?? [] : [])]).toEqual(['\\Seen']);

        const copied = await client.messageCopy(String(a.uid), 'Archive-test', { uid: true });
        expect(copied && copied.uidMap?.get(a.uid)).toBe(1);
        const moved = await client.messageMove(String(b.uid), 'Archive-test', { uid: true });
        expect(moved && moved.uidMap?.get(b.uid)).toBe(2);
        expect(await client.search({ uid: String(b.uid) }, { uid: true })).toEqual([]);

        await client.messageDelete(String(c.uid), { uid: true });
        expect(await client.search({ uid: String(c.uid) }, { uid: true })).toEqual([]);
      } finally {
        lock.release();
      }
      const status = await client.status('Archive-test', { messages: true, uidNext: true, unseen: true });
      expect(status.messages).toBe(2);
      expect(status.uidNext).toBe(3);
      expect(status.unseen).toBe(1);
    });

    it('searches with several keys', async () => {
      const client = await h.client();
      await client.mailboxCreate('Search');
      const from = (f: string, s: string, body: string, date: string) => simpleMessage({ from: f, subject: s, body, date });
      const u1 = (await client.append('Search', from('lab@lab.example', 'Résultats NFS', 'Hémoglobine normale', 'Mon, 02 Mar 2026 08:00:00 +0100'), [], new Date('2026-03-02T08:00:00Z'))) as { uid: number };
      const u2 = (await client.append('Search', from('radio@imagerie.example', 'Scanner thoracique', 'Pas de lésion', 'Tue, 10 Mar 2026 08:00:00 +0100'), ['\\Seen'], new Date('2026-03-10T08:00:00Z'))) as { uid: number };
      const u3 = (await client.append('Search', from('lab@lab.example', 'Ionogramme', 'Potassium élevé '.repeat(50), 'Fri, 20 Mar 2026 08:00:00 +0100'), ['\\Flagged'], new Date('2026-03-20T08:00:00Z'))) as { uid: number };
      const lock = await client.getMailboxLock('Search');
      try {
        const s = (q: object) => client.search(q, { uid: true });
        expect(await s({ from: 'lab@lab.example' })).toEqual([u1.uid, u3.uid]);
        expect(await s({ seen: false })).toEqual([u1.uid, u3.uid]);
        expect(await s({ flagged: true })).toEqual([u3.uid]);
        expect(await s({ subject: 'résultats' })).toEqual([u1.uid]);
        expect(await s({ body: 'lésion' })).toEqual([u2.uid]);
        expect(await s({ text: 'potassium' })).toEqual([u3.uid]);
        expect(await s({ since: new Date('2026-03-05T00:00:00Z') })).toEqual([u2.uid, u3.uid]);
        expect(await s({ before: new Date('2026-03-05T00:00:00Z') })).toEqual([u1.uid]);
        expect(await s({ sentBefore: new Date('2026-03-15T00:00:00Z'), sentSince: new Date('2026-03-05T00:00:00Z') })).toEqual([u2.uid]);
        expect(await s({ larger: 600 })).toEqual([u3.uid]);
        expect(await s({ not: { from: 'lab@lab.example' } })).toEqual([u2.uid]);
        expect(await s({ or: [{ flagged: true }, { seen: true }] })).toEqual([u2.uid, u3.uid]);
        expect(await s({ uid: `${u2.uid}:*` })).toEqual([u2.uid, u3.uid]);
        expect(await s({ header: { 'message-id': '@cabinet.example' } })).toEqual([u1.uid, u2.uid, u3.uid]);
        expect(await client.search({ seq: '2:3', seen: true })).toEqual([2]);
      } finally {
        lock.release();
      }
    });

    it('pushes EXISTS during IDLE when another session appends, and flag changes between sessions', async () => {
      const watcher = await h.client();
      const writer = await h.client();
      await watcher.mailboxCreate('Idle');
      const first = (await writer.append('Idle', simpleMessage({ subject: 'first', body: 'x' }))) as { uid: number };
      await watcher.mailboxOpen('Idle');
      await writer.mailboxOpen('Idle');

      const exists = new Promise<number>((resolve) => watcher.once('exists', (data: { count: number }) => resolve(data.count)));
      const flags = new Promise<Set<string>>((resolve) => watcher.once('flags', (data: { flags: Set<string> }) => resolve(data.flags)));
      const idling = watcher.idle();
      await new Promise((r) => setTimeout(r, 100));
      await writer.append('Idle', simpleMessage({ subject: 'second', body: 'y' }));
      expect(await exists).toBe(2);
      await writer.messageFlagsAdd(String(first.uid), ['\\Answered'], { uid: true });
      expect([...(await flags)]).toContain('\\Answered');

      // The writer sees the watcher's change too (delivered on NOOP).
      const writerFlags = new Promise<Set<string>>((resolve) => writer.once('flags', (data: { flags: Set<string> }) => resolve(data.flags)));
      await watcher.messageFlagsAdd(String(first.uid), ['\\Flagged'], { uid: true });
      await writer.noop();
      expect([...(await writerFlags)].sort()).toEqual(['\\Answered', '\\Flagged']);
      void idling;
    });

    it('pushes EXPUNGE during IDLE and mail delivered by the backend', async () => {
      const watcher = await h.client();
      const writer = await h.client();
      await watcher.mailboxCreate('Idle2');
      await writer.append('Idle2', simpleMessage({ subject: 'a', body: 'a' }));
      const b = (await writer.append('Idle2', simpleMessage({ subject: 'b', body: 'b' }))) as { uid: number };
      await watcher.mailboxOpen('Idle2');
      await writer.mailboxOpen('Idle2');
      const expunged = new Promise<number>((resolve) => watcher.once('expunge', (data: { seq: number }) => resolve(data.seq)));
      void watcher.idle();
      await new Promise((r) => setTimeout(r, 100));
      await writer.messageDelete(String(b.uid), { uid: true });
      expect(await expunged).toBe(2);
      const exists = new Promise<number>((resolve) => watcher.once('exists', (data: { count: number }) => resolve(data.count)));
      await h.backend.deliver(USER, 'Idle2', simpleMessage({ subject: 'delivered', body: 'c' }));
      expect(await exists).toBe(2);
    });
  });
}
