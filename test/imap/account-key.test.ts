/**
 * The account key (src/mailbox/meta-key.ts; docs/secure-message-format.md §5.3) is stored encrypted
 * to its owner's OpenPGP key and signed by it, and every cache entry it seals is bound to its place.
 * Someone who can write the store (a database dump restored with changes, a compromised database
 * server) could otherwise put a key of his own there, encrypted to the owner's public key, and then
 * write own copies and cached verdicts that open; or move a message's cached ENVELOPE and verdict
 * onto another message. On both stores, with imapflow and raw IMAP over TLS against the in-process
 * gateway, changing the store only through its interfaces:
 * - a new account's key is signed by its owner and its entries are bound (`v2`);
 * - an entry moved onto another message does not lend it its ENVELOPE;
 * - a key stored as an older medgate stored it (unsigned, entries `v1`) is signed at the next login,
 *   its entries bound first: the folder names and the mail are as before;
 * - a folder name cached unbound by a node of the previous version shows while it proves itself;
 * - a key signed by someone else or for something else, another account's key, a missing key, or
 *   (under `refuse`) an unsigned key is refused at LOGIN with `NO [CONTACTADMIN]`, and the
 *   account's real key still works;
 * - a message's sealed bytes replaced at rest, under its blob id, by another message (another
 *   signer's or the same signer's; small, or large enough to be streamed; for a person or a record
 *   server) are served as the unreadable-message notice, never with the cached verdict.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import tls from 'node:tls';
import type { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { replaceBlobAtRest } from '../helpers/at-rest.js';
import { runCli } from '../helpers/gateway.js';
import { describeOnStores, imapflowFor, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const CLAIRE = 'claire.dupont@cabinet-antony.medgate.test';
const RMP = 'rmp@cabinet-antony.medgate.test';
const PW = 'correct horse battery';
const FOLDER = 'DUPONT Jean/Bilans';

const note = (subject: string, id: string): Buffer => Buffer.from([
  `From: "Dr Paul DEMO" <${PAUL}>`, `To: ${PAUL}`, `Subject: ${subject}`, `Message-ID: <${id}@cabinet-antony.medgate.test>`,
  'Date: Mon, 07 Dec 2026 08:00:00 +0000', 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'Bilan à revoir.', '',
].join('\r\n'));

/** A cache entry's associated data, as §5.3 gives it. */
const placeOf = (owner: string, cacheKey: string): Buffer => Buffer.from(`medgate/1 cache\0${owner}\0${cacheKey}`, 'utf8');

/** Rewrites a bound entry (`v2`) as an older medgate wrote it (`v1`, no associated data). */
function unbound(key: Buffer, owner: string, cacheKey: string, text: string): string {
  const [v, iv, tag, body] = text.split('.');
  expect(v).toBe('v2');
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(iv!, 'base64'));
  d.setAAD(placeOf(owner, cacheKey));
  d.setAuthTag(Buffer.from(tag!, 'base64'));
  const plain = Buffer.concat([d.update(Buffer.from(body!, 'base64')), d.final()]);
  const iv2 = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv2);
  const enc = Buffer.concat([c.update(plain), c.final()]);
  return ['v1', iv2.toString('base64'), c.getAuthTag().toString('base64'), enc.toString('base64')].join('.');
}

describeOnStores('the account key', (store) => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({
      store, accounts: [
        { address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW },
        { address: CLAIRE, kind: 'person', rpps: '10100000025', password: PW }, { address: RMP, kind: 'rmp', password: PW },
      ],
    });
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  const imap = (user: string): ImapFlow => imapflowFor(gw, user, PW);
  const pgpKeyOf = async (user: string): Promise<openpgp.PrivateKey> => (await gw.ctx.accounts.unlock(user, PW, { via: 'cli' })).pgpKey;
  const wrappedOf = async (user: string): Promise<string> => (await gw.store.accounts.get(user))!.wrappedMetaKey!;
  /** `medgate user list --json`, as an operator runs it beside the gateway: each account's key state. */
  const keyStates = async (): Promise<Record<string, string>> => {
    const r = await runCli(['user', 'list', '--json', '--config', gw.configFile]);
    expect(r.code, r.stderr).toBe(0);
    return Object.fromEntries((JSON.parse(r.stdout) as Array<{ address: string; accountKey: string }>).map((a) => [a.address, a.accountKey]));
  };
  /** The key's bytes, checking that the owner's key signed them. */
  const signedKeyOf = async (user: string): Promise<Buffer> => {
    const key = await pgpKeyOf(user);
    const { data, signatures, filename } = await openpgp.decrypt({
      message: await openpgp.readMessage({ armoredMessage: await wrappedOf(user) }), decryptionKeys: key, verificationKeys: key.toPublic(), expectSigned: true,
    });
    expect(signatures.map((sig) => sig.keyID.toHex())).toEqual([(await key.getSigningKey()).getKeyID().toHex()]);
    expect(filename).toBe(`medgate account key ${user}`);
    // The text is the key as it was stored before keys were signed: a node of the previous version reads it.
    expect(data).toMatch(/^[0-9a-f]{64}$/);
    return Buffer.from(data as string, 'hex');
  };
  /** LOGIN over raw TLS: the tagged answer as the server wrote it. */
  const rawLogin = async (user: string): Promise<string> => {
    const sock = tls.connect({ host: '127.0.0.1', port: gw.ports.imapTls!, ca: gw.caPem, servername: 'localhost' });
    let text = '';
    let sent = false;
    try {
      await new Promise<void>((resolve, reject) => {
        sock.on('data', (d: Buffer) => {
          text += d.toString('utf8');
          if (!sent && /^\* OK/m.test(text)) { sent = true; sock.write(`a LOGIN ${user} "${PW}"\r\n`); }
          if (/^a (OK|NO|BAD)/m.test(text)) resolve();
        });
        sock.once('error', reject);
      });
      return /^a (OK|NO|BAD).*$/m.exec(text)![0].trimEnd();
    } finally {
      sock.destroy();
    }
  };
  const subjectsIn = async (folder: string): Promise<string[]> => {
    const c = imap(PAUL);
    await c.connect();
    try {
      await c.mailboxOpen(folder);
      const out: string[] = [];
      for await (const m of c.fetch('1:*', { envelope: true })) out.push(m.envelope!.subject!);
      return out;
    } finally {
      await c.logout();
    }
  };

  /** A letter from `from` to Paul, submitted as a practice's software does (sealed and signed by `from`). */
  const submit = async (from: string, subject: string, body: string, to = PAUL): Promise<void> => {
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmission, secure: false, requireTLS: true, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user: from, pass: PW },
    });
    try {
      await t.sendMail({ from, to, subject, text: body });
    } finally {
      t.close();
    }
  };
  /** INBOX as Paul's client sees it: each message's verdict fields and subject, and its size. */
  const inbox = async (sizesKnown = true): Promise<Array<{ subject: string; signature: string; size: number }>> => {
    const c = imap(PAUL);
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const out: Array<{ subject: string; signature: string; size: number }> = [];
      for await (const m of c.fetch('1:*', { source: true, size: true })) {
        const head = m.source!.subarray(0, m.source!.indexOf('\r\n\r\n')).toString('utf8');
        out.push({ subject: /^Subject: (.*)$/m.exec(head)![1]!, signature: /^X-Medgate-Signature: (.*)$/m.exec(head)?.[1] ?? '', size: m.size! });
        if (sizesKnown) expect(m.source!.length).toBe(m.size);
      }
      return out;
    } finally {
      await c.logout();
    }
  };

  /** One message as Paul's client fetches it on a connection of its own: its subject and the notice code, if any. */
  const fetchOne = async (uid: number): Promise<{ subject: string; signature: string; code: string }> => {
    const c = imap(PAUL);
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const m = await c.fetchOne(String(uid), { source: true }, { uid: true });
      const text = m ? m.source!.toString('utf8') : '';
      return { subject: /^Subject: (.*)$/m.exec(text)?.[1] ?? '', signature: /^X-Medgate-Signature: (.*)$/m.exec(text)?.[1] ?? '', code: /^Code: (.*)$/m.exec(text)?.[1]?.trim() ?? '' };
    } finally {
      await c.logout().catch(() => undefined);
    }
  };

  it('sealed bytes changed at rest under a blob id are not served as the message: another signer\'s, the same signer\'s, small or streamed', async () => {
    // Of one length: the size recorded at the first opening holds for the other, so only the check of
    // the stored bytes can tell them apart (the same signer signed both).
    const large = (n: number): string => `${n}\n${'Compte rendu détaillé, ligne de texte. '.repeat(40_000)}`;
    await submit(JL, 'From JL 1', 'Bilan de JL.');
    await submit(JL, 'From JL 2', 'Autre bilan de JL.');
    await submit(CLAIRE, 'From Claire', 'Bilan de Claire.');
    await submit(JL, 'Large from JL 1', large(1));
    await submit(JL, 'Large from JL 2', large(2));
    const inboxId = (await gw.store.mail.getMailbox(PAUL, 'INBOX'))!.id;
    const stored = await gw.store.mail.listMessages(inboxId);
    expect(stored).toHaveLength(5); // delivered before each 250
    const before = await inbox(); // opened once: verdicts pinned in the cache
    expect(before.map((m) => [m.subject, m.signature.includes(`signer=${JL}`) ? 'JL' : m.signature.includes(`signer=${CLAIRE}`) ? 'Claire' : m.signature]))
      .toEqual([['From JL 1', 'JL'], ['From JL 2', 'JL'], ['From Claire', 'Claire'], ['Large from JL 1', 'JL'], ['Large from JL 2', 'JL']]);
    const [jl1, jl2, claire, large1, large2] = stored;
    expect(large1!.sealedSize).toBeGreaterThan(1024 * 1024); // streamed (STREAM_MESSAGE_BYTES)
    // Under JL's blob ids: the same signer's other letter (its signature verifies as his), another
    // signer's letter, and the same signer's other large report.
    await replaceBlobAtRest(gw.config, jl2!.blobId, jl1!.blobId);
    await replaceBlobAtRest(gw.config, jl1!.blobId, claire!.blobId);
    await replaceBlobAtRest(gw.config, large1!.blobId, large2!.blobId);
    await gw.restart();
    const notice = { subject: '[medgate] Message illisible / message could not be opened', signature: '', code: 'CIPHERTEXT_TAMPERED' };
    expect(await fetchOne(jl1!.uid)).toEqual(notice);
    expect(await fetchOne(jl2!.uid)).toEqual(notice);
    expect((await fetchOne(claire!.uid)).signature).toContain(`signer=${CLAIRE}`);
    // The large one is streamed under its cached facts (same signer): the stream ends with the error
    // before its last piece, and the connection is closed mid-literal (§11.1); every later FETCH
    // opens it whole and shows the notice.
    const streamed = await fetchOne(large1!.uid).catch((err: Error) => err);
    expect(streamed instanceof Error || streamed.subject === '').toBe(true);
    expect(await fetchOne(large1!.uid)).toEqual(notice);
    expect((await fetchOne(large2!.uid)).subject).toBe('Large from JL 2');
    expect((await gw.ctx.audit.list(1, 100_000)).some((a) => a.action === 'imap.fetch.stream-aborted')).toBe(true);
  });

  it('is signed by its owner, and binds every cache entry to its place', async () => {
    const c = imap(PAUL);
    await c.connect();
    try {
      await c.mailboxCreate(FOLDER);
      await c.append(FOLDER, note('Note A', 'key-a'), ['\\Seen']);
      await c.append(FOLDER, note('Note B', 'key-b'), ['\\Seen']);
    } finally {
      await c.logout();
    }
    expect((await signedKeyOf(PAUL)).length).toBe(32);
    const entries = await gw.store.mail.listMeta(PAUL, '', 1000);
    // The two parts of the folder name and the two copies' facts.
    expect(entries.length).toBeGreaterThanOrEqual(4);
    for (const e of entries) expect(e.data.startsWith('v2.')).toBe(true);
    expect(await subjectsIn(FOLDER)).toEqual(['Note A', 'Note B']);
  });

  it('an entry moved onto another message does not lend it its ENVELOPE', async () => {
    const folder = (await gw.store.mail.listMailboxes(PAUL)).find((m) => m.name.split('/').length === 2 && !m.name.startsWith('INBOX'))!;
    const [a, b] = await gw.store.mail.listMessages(folder.id);
    const entryOfA = await gw.store.mail.getMeta(PAUL, a!.blobId);
    expect(entryOfA).toBeDefined();
    await gw.restart(); // nothing in memory: what the next session knows comes from the store
    await gw.store.mail.putMeta(PAUL, b!.blobId, entryOfA!);
    expect(await subjectsIn(FOLDER)).toEqual(['Note A', 'Note B']);
  });

  it('a record server\'s view: bytes replaced at rest are a notice, never filed under the cached routing fields', async () => {
    await submit(JL, 'PATIENT: DUPONT Jean 30/01/1959', 'Compte rendu de consultation.', RMP);
    await submit(CLAIRE, 'PATIENT: MARTIN Lea 02/03/1970', 'Compte rendu de consultation.', RMP);
    const routeOf = async (): Promise<string[]> => {
      const c = imap(RMP);
      await c.connect();
      try {
        await c.mailboxOpen('INBOX');
        const out: string[] = [];
        for await (const m of c.fetch('1:*', { source: true })) {
          const head = m.source!.subarray(0, m.source!.indexOf('\r\n\r\n')).toString('utf8');
          out.push(`${/^X-Medgate-Route-Verified: valid; signer=([^;]*)/m.exec(head)?.[1]} ${/^X-Medgate-Route-Patient-Family: (.*)$/m.exec(head)?.[1]}`);
        }
        return out;
      } finally {
        await c.logout();
      }
    };
    expect(await routeOf()).toEqual([`${JL} DUPONT`, `${CLAIRE} MARTIN`]);
    const [jl, claire] = await gw.store.mail.listMessages((await gw.store.mail.getMailbox(RMP, 'INBOX'))!.id);
    await replaceBlobAtRest(gw.config, jl!.blobId, claire!.blobId);
    await gw.restart();
    // Neither the cached routing fields nor the new bytes' own: a notice, which names no patient.
    expect(await routeOf()).toEqual(['undefined undefined', `${CLAIRE} MARTIN`]);
  });

  it('a key stored unsigned (an older medgate) is signed at the next login, its entries bound first, nothing lost', async () => {
    const pgpKey = await pgpKeyOf(PAUL);
    const key = await signedKeyOf(PAUL);
    const signed = await wrappedOf(PAUL);
    // The account as an older medgate left it: the key encrypted to the owner, unsigned; entries unbound.
    const legacy = await openpgp.encrypt({ message: await openpgp.createMessage({ text: key.toString('hex') }), encryptionKeys: pgpKey.toPublic() }) as string;
    expect(await gw.store.accounts.replaceWrappedMetaKey(PAUL, signed, legacy)).toBe(true);
    const entries = await gw.store.mail.listMeta(PAUL, '', 1000);
    for (const e of entries) await gw.store.mail.putMeta(PAUL, e.key, unbound(key, PAUL, e.key, e.data));
    await gw.restart();
    expect((await keyStates())[PAUL]).toBe('unsigned');
    const logged = gw.logs.length;

    const c = imap(PAUL);
    await c.connect();
    try {
      expect((await c.list()).map((m) => m.path)).toContain(FOLDER);
    } finally {
      await c.logout();
    }
    expect(await subjectsIn(FOLDER)).toEqual(['Note A', 'Note B']);
    expect((await signedKeyOf(PAUL)).equals(key)).toBe(true);
    const after = await gw.store.mail.listMeta(PAUL, '', 1000);
    expect(after.map((e) => e.key)).toEqual(entries.map((e) => e.key));
    for (const e of after) expect(e.data.startsWith('v2.')).toBe(true);
    expect(gw.logs.slice(logged).some((l) => l.includes('account key stored unsigned: signed by its owner'))).toBe(true);
    expect((await keyStates())[PAUL]).toBe('signed');
  });

  it('a folder name an older node cached unbound (a rolling upgrade) shows, as long as it proves itself', async () => {
    const key = await signedKeyOf(PAUL);
    const stored = await gw.folder(PAUL, PW, 'Suivi/Cardio');
    await gw.store.mail.ensureMailbox(PAUL, stored);
    const [top, sub] = stored.split('/').map((part) => `mbx:${part}`);
    const entryOf = async (k: string): Promise<string> => (await gw.store.mail.getMeta(PAUL, k))!;
    const v1Top = unbound(key, PAUL, top!, await entryOf(top!));
    const v1Sub = unbound(key, PAUL, sub!, await entryOf(sub!));
    // As a node of the previous version writes them: unbound.
    await gw.store.mail.putMeta(PAUL, top!, v1Top);
    await gw.store.mail.putMeta(PAUL, sub!, v1Sub);
    await gw.restart();
    const paths = async (): Promise<string[]> => {
      const c = imap(PAUL);
      await c.connect();
      try {
        return (await c.list()).map((m) => m.path);
      } finally {
        await c.logout();
      }
    };
    expect(await paths()).toEqual(expect.arrayContaining(['Suivi', 'Suivi/Cardio']));
    // One moved onto the other part's place does not prove itself there: shown as stored.
    await gw.store.mail.putMeta(PAUL, sub!, v1Top);
    await gw.restart();
    expect(await paths()).toEqual(expect.arrayContaining(['Suivi', `Suivi/${stored.split('/')[1]}`]));
  });

  it('a key someone else put in place is refused at LOGIN with NO [CONTACTADMIN]; the real one still opens', async () => {
    const pgpKey = await pgpKeyOf(PAUL);
    const real = await wrappedOf(PAUL);
    const theirs = randomBytes(32).toString('hex');
    const stranger = (await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email: 'x@attacker.test' }], format: 'object' })).privateKey;
    const attempts: Array<[string, string]> = [
      // Encrypted to the owner's public key, signed by another key, named as his key.
      ['signed by a stranger', await openpgp.encrypt({
        message: await openpgp.createMessage({ text: theirs, filename: `medgate account key ${PAUL}` }), encryptionKeys: pgpKey.toPublic(), signingKeys: stranger,
      }) as string],
      // Signed by the owner, but not as his account key (another message of his, replayed).
      ['signed by the owner for something else', await openpgp.encrypt({
        message: await openpgp.createMessage({ text: theirs, filename: 'letter.txt' }), encryptionKeys: pgpKey.toPublic(), signingKeys: pgpKey,
      }) as string],
      // Another account's key, signed by its own owner: it does not open with this one's key.
      ['another account\'s', await (async () => {
        const jl = imap(JL);
        await jl.connect(); // his first login draws his key
        await jl.logout();
        return wrappedOf(JL);
      })()],
    ];
    try {
      for (const [what, wrapped] of attempts) {
        expect(await gw.store.accounts.replaceWrappedMetaKey(PAUL, await wrappedOf(PAUL), wrapped), what).toBe(true);
        await gw.restart();
        expect(await rawLogin(PAUL), what).toMatch(/^a NO \[CONTACTADMIN\] the account key stored for this account/);
      }
      // No key at all, although mail was stored under one: not silently replaced by a new one.
      expect(await gw.store.accounts.update(PAUL, { wrappedMetaKey: null })).toBe(true);
      await gw.restart();
      expect(await rawLogin(PAUL)).toMatch(/^a NO \[CONTACTADMIN\] the account key of this account is missing/);
      expect(await wrappedOf(PAUL)).toBeNull();
      expect(await gw.store.accounts.initWrappedMetaKey(PAUL, real)).toBe(real);
      // An unsigned key, once the operator has set `refuse` (config edited, gateway restarted).
      gw.config.security.unsignedAccountKeys = 'refuse';
      const unsigned = await openpgp.encrypt({ message: await openpgp.createMessage({ text: theirs }), encryptionKeys: pgpKey.toPublic() }) as string;
      expect(await gw.store.accounts.replaceWrappedMetaKey(PAUL, await wrappedOf(PAUL), unsigned)).toBe(true);
      await gw.restart();
      expect(await rawLogin(PAUL)).toMatch(/^a NO \[CONTACTADMIN\] the account key stored for this account is not signed by its owner/);
      expect(await wrappedOf(PAUL)).toBe(unsigned); // refused, not signed
      // `medgate message open --as` on one of his own copies (what the command calls) refuses it too.
      const copies = await Promise.all((await gw.store.mail.listMailboxes(PAUL)).filter((m) => !m.name.startsWith('INBOX')).map((m) => gw.mailbox(PAUL, m.name)));
      const ownCopy = copies.flat().find((sealed) => sealed.subarray(0, 200).toString('latin1').includes('body=own-aead'));
      expect(ownCopy).toBeDefined();
      await expect(gw.open(ownCopy!, PAUL, PW)).rejects.toMatchObject({ code: 'ACCOUNT_KEY_UNSIGNED' });
    } finally {
      expect(await gw.store.accounts.replaceWrappedMetaKey(PAUL, await wrappedOf(PAUL), real)).toBe(true);
      await gw.restart();
    }
    // The owner's own key, under `refuse` too: his folders and mail as before.
    expect(await rawLogin(PAUL)).toMatch(/^a OK/);
    expect(await subjectsIn(FOLDER)).toEqual(['Note A', 'Note B']);
    gw.config.security.unsignedAccountKeys = 'sign';
  });
});
