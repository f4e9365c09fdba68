/**
 * Sending a record on request (issue 6 item 4), on a gateway built in this process from the wiring
 * `serve` uses, on each store: Paul (the treating doctor) sends a summary and a letter to the record
 * server over SMTP; the record request (`medgate patients send` calls the same service, and the
 * emergency case runs that command) re-addresses the filed items to a requesting doctor by
 * re-wrapping their session keys; the doctor reads them over IMAP with their own key, the sender's
 * signature still valid. Everything is read through the store interfaces.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import * as openpgp from 'openpgp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RecordRequest, RecordRequestResult } from '../../src/filing/record-request.js';
import { armoredPayload } from '../../src/crypto/seal/sealed-message.js';
import { dearmorMessage } from '../../src/crypto/seal/radix64.js';
import { contentPacketOf, splitSessionKeyPackets } from '../../src/filing/rewrap.js';
import { ensureFilingKey } from '../../dist/crypto/gateway-keys.js';
import { filingFor } from '../../dist/filing/context.js';
import { sendRecord } from '../../dist/filing/record-request.js';
import { ensurePostmaster } from '../../dist/mailbox/postmaster.js';
import { DEMO_SAMPLES, runCli, tempDir, type CliResult } from '../helpers/gateway.js';
import { describeOnStores, prepareGatewayData, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const DOMAIN = 'cabinet-antony.medgate.test';
const PAUL = `paul.demo@${DOMAIN}`;
const JL = `jl.letest@${DOMAIN}`;
/** A second doctor of the practice (takes a physician's identity from the ANS sample). */
const URG = `urgences@${DOMAIN}`;
const RMP = `rmp@${DOMAIN}`;
const PW: Record<string, string> = { [PAUL]: 'paul password 123', [JL]: 'jl password 4567', [URG]: 'urgences password 89', [RMP]: 'record server secret 0' };

async function must(p: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r;
}

interface AuditRecord { action: string; outcome: string; actor: string; details: Record<string, unknown> }

describeOnStores('record request: a record re-addressed to a doctor on request (SMTP in, IMAP out)', (storeKind) => {
  let gw: InProcessGateway;
  let patientId: string;
  let accessCode: string;
  let summaryDoc: string;
  let letterBlob: string;
  const cli = (...args: string[]) => runCli([...args, '--config', gw.configFile]);
  /** What `medgate patients send <patient> --rmp rmp@… --to <doctor> …` asks, through the service it calls. */
  const send = (doctor: string, o: Partial<Pick<RecordRequest, 'accessCode' | 'documentId' | 'emergencyReason'>> = {}): Promise<RecordRequestResult> =>
    sendRecord(gw.ctx as never, { patientId, doctor, recordServer: { address: RMP, password: PW[RMP]! }, ...o }) as Promise<RecordRequestResult>;
  // What `medgate audit list` prints (it prints these records as JSON lines), read through the store.
  const audit = async (): Promise<AuditRecord[]> =>
    (await gw.store.audit.list(1, 100_000)).map((r) => JSON.parse(JSON.stringify(r)) as AuditRecord);

  async function submit(raw: Buffer): Promise<void> {
    const t = nodemailer.createTransport({
      host: '127.0.0.1', port: gw.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: PAUL, pass: PW[PAUL]! }, tls: { ca: gw.caPem, servername: 'localhost' },
    });
    try { await t.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw }); } finally { t.close(); }
  }
  async function build(subject: string, text: string): Promise<Buffer> {
    const raw = await new MailComposer({
      from: PAUL, to: RMP, subject, text,
      headers: { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' },
    }).compile().build();
    return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
  }

  /** Every message of a user's INBOX as the IMAP server shows it (opened with the user's key). */
  async function inbox(user: string): Promise<Array<{ subject: string; source: string }>> {
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user, pass: PW[user]! } });
    await c.connect();
    try {
      const lock = await c.getMailboxLock('INBOX');
      try {
        const out: Array<{ subject: string; source: string }> = [];
        if ((c.mailbox as { exists: number }).exists === 0) return out;
        for await (const m of c.fetch('1:*', { envelope: true, source: true })) out.push({ subject: m.envelope?.subject ?? '', source: m.source!.toString('utf8') });
        return out;
      } finally { lock.release(); }
    } finally { await c.logout(); }
  }

  /** Sealed bytes as stored in a user's mailbox (read straight from the store). */
  const storedBlobs = (owner: string, mailbox: string): Promise<Buffer[]> => gw.mailbox(owner, mailbox);

  const encryptionKeyIds = async (owner: string): Promise<string[]> => {
    const armored = (await gw.store.directory.get(owner))!.pgpPublicKey!;
    return (await openpgp.readKey({ armoredKey: armored })).getKeyIDs().map((k) => k.toHex());
  };
  const recipientsOf = async (sealed: Buffer): Promise<string[]> =>
    (await openpgp.readMessage({ binaryMessage: dearmorMessage(await armoredPayload(sealed), 'message') })).getEncryptionKeyIDs().map((k) => k.toHex());

  beforeAll(async () => {
    // `medgate pki init`, `init`, `directory import` and the four `user add` (no whitelist yet: the
    // peer test imports it), through the services those commands call; served in this process.
    gw = await startInProcessGateway({
      store: storeKind, domain: DOMAIN, whitelist: false,
      accounts: [
        { address: PAUL, kind: 'person', rpps: '10100000017', password: PW[PAUL]! },
        { address: JL, kind: 'person', rpps: '10100000041', password: PW[JL]! },
        { address: URG, kind: 'person', rpps: '10100000066', password: PW[URG]! },
        { address: RMP, kind: 'rmp', password: PW[RMP]! },
      ],
    });
    await submit(await build('Synthèse médicale DUPONT', 'Volet de synthese medicale: HTA, diabete de type 2.\n'));
    await submit(await build('Courrier DUPONT', 'Courrier de suivi, tension stable.\n'));
    // `medgate patients search` and `show`, through the filing service they call.
    const filing = await filingFor(gw.ctx as never);
    const found = await filing.search('dup');
    expect(found).toHaveLength(1);
    patientId = found[0]!.id;
    const show = await filing.show(patientId);
    expect(show.treatingDoctor).toBe(PAUL);
    accessCode = show.accessCode;
    summaryDoc = show.tabs.summary![0]!.id;
    letterBlob = show.tabs.letters![0]!.blobId;
  }, 180_000);

  afterAll(async () => {
    await gw?.stop();
  });

  it('refuses a doctor without the access code, or with a wrong one, and audits the refusal', async () => {
    await expect(send(JL)).rejects.toMatchObject({ code: 'FILING_REQUEST_REFUSED', message: expect.stringMatching(/refused: .*access code/) });
    await expect(send(JL, { accessCode: 'AAAA-BBBB-CCCC' })).rejects.toThrow(/access code does not match/);
    // A record server is not a health professional, even with the code.
    await expect(send(RMP, { accessCode })).rejects.toThrow(/only a health professional/);

    expect(await storedBlobs(JL, 'INBOX')).toHaveLength(0);
    const refusals = (await audit()).filter((a) => a.action === 'filing.request');
    expect(refusals.map((a) => [a.outcome, a.actor, a.details.reason])).toEqual([
      ['refused', JL, 'access-code-required'], ['refused', JL, 'access-code-wrong'], ['refused', RMP, 'not-a-health-professional'],
    ]);
    expect(refusals.every((a) => a.details.patientId === patientId)).toBe(true);
  }, 60_000);

  it('with the access code the record arrives sealed to the doctor only, opens with their key, content packets untouched', async () => {
    const r = await send(JL, { accessCode: accessCode.toLowerCase() });
    expect(r).toMatchObject({ patientId, basis: 'access-code', documents: 2, messages: 2, delivery: 'local' });
    // Byte level: only the session-key packets changed; the record server's copy is untouched.
    const original = await storedBlobs(RMP, 'INBOX');
    const sent = await storedBlobs(JL, 'INBOX');
    expect(sent).toHaveLength(2);
    const jlKeys = await encryptionKeyIds(JL);
    const rmpKeys = await encryptionKeyIds(RMP);
    const originalPackets = await Promise.all(original.map(async (b) => Buffer.from(await contentPacketOf(b))));
    const skeleton = (b: Buffer) => b.toString('latin1').replace(/X-Medgate-Routing:(\r\n [^\r\n]+)+/, 'R').replace(/-----BEGIN PGP MESSAGE-----[\s\S]*-----END PGP MESSAGE-----/, 'C');
    const matched = new Set<number>();
    for (const copy of sent) {
      const packet = Buffer.from(await contentPacketOf(copy));
      const from = originalPackets.findIndex((p) => p.equals(packet));
      expect(from).toBeGreaterThanOrEqual(0);
      matched.add(from);
      expect(copy.equals(original[from]!)).toBe(false);
      const to = await recipientsOf(copy);
      expect(to.length).toBe(1);
      expect(jlKeys).toContain(to[0]);
      expect(rmpKeys).not.toContain(to[0]);
      expect((await recipientsOf(original[from]!)).some((k) => rmpKeys.includes(k))).toBe(true);
      // Same outer fields and MIME skeleton: the text outside the two OpenPGP objects is identical.
      expect(skeleton(copy)).toBe(skeleton(original[from]!));
    }
    expect(matched.size).toBe(2);
    const packet = dearmorMessage(await armoredPayload(sent[0]!), 'message');
    expect(splitSessionKeyPackets(packet).keyPackets.length).toBeLessThan(200);

    // Read by jl over IMAP: decrypted with jl's key, the original subject, Paul's signature valid.
    const mail = await inbox(JL);
    expect(mail.map((m) => m.subject).sort()).toEqual(['Courrier DUPONT', 'Synthèse médicale DUPONT']);
    for (const m of mail) {
      expect(m.source).toMatch(new RegExp(`^X-Medgate-Signature: valid; signer=${PAUL.replace(/\./g, '\\.')}; fingerprint=[0-9a-f]{40}`, 'm'));
      expect(m.source).not.toMatch(/medgate\/1|BEGIN PGP MESSAGE/);
    }
    expect(mail.find((m) => m.subject.startsWith('Synth'))!.source).toContain('Volet de synthese medicale: HTA');

    const ok = (await audit()).filter((a) => a.action === 'filing.request' && a.outcome === 'ok');
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({ actor: JL, details: { basis: 'access-code', emergency: false, patientId, messages: 2 } });
  }, 60_000);

  it('an emergency request without code is sent, flagged in the audit trail and listed for justification; its reason is stored encrypted', async () => {
    const reason = 'Patient inconscient aux urgences, antecedents inconnus';
    // The operator's command, on this store beside the serving gateway: its usage check and its
    // report. The usage error is refused before any request is made: the two run at once.
    const rmpArgs = ['--rmp', RMP, '--password', PW[RMP]!];
    const [usage, r] = await Promise.all([
      cli('patients', 'send', patientId, ...rmpArgs, '--to', URG, '--emergency'),
      must(cli('patients', 'send', patientId, ...rmpArgs, '--to', URG, '--emergency', '--reason', reason), 'emergency'),
    ]);
    expect(usage.code).not.toBe(0);
    expect(usage.stderr).toMatch(/needs --reason/);
    expect(r.stdout).toMatch(/\(emergency\): 2 sealed item\(s\), 2 document\(s\) delivered to urgences@/);
    expect(await inbox(URG)).toHaveLength(2);

    const records = await audit();
    const flagged = records.filter((a) => a.action === 'filing.request' && a.details.emergency === true);
    expect(flagged).toHaveLength(1);
    expect(flagged[0]).toMatchObject({ outcome: 'ok', actor: URG, details: { basis: 'emergency', patientId } });
    const auditText = JSON.stringify(records);
    expect(auditText).not.toContain('inconscient');
    expect(auditText).not.toMatch(/DUPONT|1959-01-30/);

    // `medgate patients emergencies` (its text), and the service it calls.
    const [listed, listedText] = await Promise.all([(await filingFor(gw.ctx as never)).emergencyAccesses(), must(cli('patients', 'emergencies'), 'emergencies text')]);
    expect(listed).toEqual([expect.objectContaining({ doctor: URG, patientId, outcome: 'sent', reason })]);
    expect(listedText.stdout).toMatch(/urgences@.*sent.*reason: Patient inconscient/);
    const rows = await gw.store.filing.listRequests('emergency');
    expect(rows).toHaveLength(1);
    expect(rows[0]!.reasonEnc).toMatch(/^v1:/);
    expect(rows[0]!.reasonEnc).not.toContain('inconscient');
  }, 60_000);

  it('a doctor on a peer gateway gets the record through the outbound queue, sealed to their key', async () => {
    const CLAIRE = 'claire.martin@cardio-sceaux.medgate.test';
    // In the national directory but without a key here, and the domain not whitelisted: unreachable.
    await expect(send(CLAIRE, { accessCode })).rejects.toThrow(/cannot receive secure mail from this gateway/);

    const peerDir = tempDir('medgate-record-peer-');
    try {
      // The peer (its own CA) set up as `pki init`, `init`, `directory import`, `user add` and
      // `directory export` would, through their services: this test is about the sending side. Its
      // store does not matter here (only its export is used).
      const peer = await prepareGatewayData({
        store: 'sqlite', dir: peerDir, domain: 'cardio-sceaux.medgate.test', whitelist: false,
        accounts: [{ address: CLAIRE, kind: 'person', rpps: '10100000025', password: 'claire password 12' }],
      });
      const exported = path.join(peerDir, 'peer-directory.json');
      try {
        const keysDir = peer.config.keysDir ?? peer.config.dataDir;
        const filing = await ensureFilingKey(keysDir, peer.config.domain);
        await ensurePostmaster(peer.ctx as never);
        const certFile = path.join(keysDir, 'tls', 'gateway.crt.pem');
        fs.writeFileSync(exported, await peer.ctx.directory.exportLocal({ filingKeyArmored: filing.publicKeyArmored, gatewayCertificatePem: fs.readFileSync(certFile, 'utf8') }));
      } finally {
        await peer.dispose();
      }
      // `medgate directory whitelist import` and `directory peer import`, through their services.
      await gw.ctx.directory.importWhitelistFile(path.join(DEMO_SAMPLES, 'liste-blanche.xml'));
      await gw.ctx.directory.importPeerFile(exported);

      const r = await send(CLAIRE, { accessCode, documentId: summaryDoc });
      expect(r).toMatchObject({ basis: 'access-code', messages: 1, delivery: 'queued' });
      // What `medgate queue list --all` shows, read through the store.
      const item = (await gw.store.queue.list()).find((q) => q.recipients.some((x) => x.recipient === CLAIRE));
      expect(item?.envelopeFrom).toBe(RMP);
      const blob = (await gw.store.mail.getBlob(item!.blobId))!;
      const claireKeys = await encryptionKeyIds(CLAIRE);
      expect(await recipientsOf(blob)).toEqual([expect.toSatisfy((k: string) => claireKeys.includes(k))]);
    } finally {
      fs.rmSync(peerDir, { recursive: true, force: true });
    }
  }, 90_000);

  it('the treating doctor asks without a code and gets one document', async () => {
    // The unknown document is refused without sending anything: the two requests run at once.
    const [r, unknownDoc] = await Promise.allSettled([send(PAUL, { documentId: summaryDoc }), send(PAUL, { documentId: 'no-such-document' })]);
    expect(r.status === 'fulfilled' && r.value).toMatchObject({ basis: 'treating', documents: 1, messages: 1 });
    expect(unknownDoc.status === 'rejected' && unknownDoc.reason).toMatchObject({ code: 'FILING_DOCUMENT_NOT_FOUND' });
    const mail = await inbox(PAUL);
    expect(mail).toHaveLength(1);
    expect(mail[0]!.subject).toBe('Synthèse médicale DUPONT');
    expect(mail[0]!.source).toMatch(/^X-Medgate-Signature: valid; signer=paul\.demo@/m);
    const requests = await gw.store.filing.listRequests();
    expect(requests.filter((q) => q.outcome === 'sent').map((q) => q.basis)).toEqual(['access-code', 'emergency', 'access-code', 'treating']);
  }, 60_000);

  it('a request that fails on one document sends none of them: retrying never gives the doctor a document twice', async () => {
    // Fault injection through the store interface: the letter's sealed item comes back damaged (a
    // disk fault, a bad restore), on whichever store.
    const mail = gw.store.mail;
    const getBlob = mail.getBlob.bind(mail);
    mail.getBlob = async (id: string) => (id === letterBlob ? Buffer.from('damaged') : getBlob(id));
    const before = (await inbox(JL)).length;
    try {
      await expect(send(JL, { accessCode })).rejects.toThrow();
      expect((await inbox(JL)).length).toBe(before); // not even the summary, which re-wrapped fine
    } finally {
      mail.getBlob = getBlob;
    }
    const retried = await send(JL, { accessCode });
    expect(retried.messages).toBe(2);
    expect((await inbox(JL)).length).toBe(before + 2);
  }, 60_000);
});
