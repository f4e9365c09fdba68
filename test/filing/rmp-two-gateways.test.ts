/**
 * Issue 6's proof across gateways: the lab's software and the treating doctor on gateway A, a
 * hospital doctor on gateway B, all writing to the record server on gateway B. The lab result
 * (HPRIM + PDF), the summary and an IHE_XDM.ZIP discharge summary land under one patient.
 * Both gateways are built in this process as `serve` builds them, on SQLite and on PostgreSQL;
 * what B filed is read through the filing service `medgate patients search/show` call.
 */
import fs from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { filingFor } from '../../dist/filing/context.js';
import { SAMPLES } from '../helpers/gateway.js';
import { describeOnStores } from '../helpers/stores.js';
import { A_DOMAIN, B_DOMAIN, CLAIRE, PASSWORD, PAUL, caPem, portsOf, setupTwoGateways, startInProcess, submitter, waitFor, type TwoGateways } from '../smtp/relay-fixture.js';

const LAB = `lgc@${A_DOMAIN}`;
const RMP = `rmp@${B_DOMAIN}`;
const PDF = Buffer.from('%PDF-1.4\n% synthetic\n%%EOF\n');

async function build(o: { from: string; subject: string; text: string; headers?: Record<string, string>; attachments?: Array<{ filename: string; content: Buffer; contentType: string }> }): Promise<Buffer> {
  const raw = await new MailComposer({ from: o.from, to: RMP, subject: o.subject, text: o.text, headers: o.headers ?? {}, attachments: o.attachments ?? [] }).compile().build();
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

describeOnStores('record server on another gateway: lab, treating doctor and hospital file under one patient', (store) => {
  let t: TwoGateways;

  beforeAll(async () => {
    t = await setupTwoGateways({
      store, inProcess: true,
      serviceAccounts: { a: [{ address: LAB, kind: 'application' }], b: [{ address: RMP, kind: 'rmp' }] },
      // The lab's software is a biologist for the rights matrix, which both gateways apply: A when it
      // accepts the submission, B (the record server's gateway) again when it accepts the relay.
      config: { a: { filing: { senders: { [LAB]: 'biologist' } } }, b: { filing: { senders: { [LAB]: 'biologist' } } } },
    });
    await Promise.all([startInProcess(t.a), startInProcess(t.b)]);
  }, 180_000);
  afterAll(async () => { await t?.cleanup(); });

  it('files the HPRIM result, the summary and the XDM discharge summary under DUPONT Jean (1959-01-30), by tab', async () => {
    const hprim = fs.readFileSync(path.join(SAMPLES, 'hprim-biologie.txt'), 'utf8');
    const xdm = zipSync({
      'IHE_XDM/SUBSET01/METADATA.XML': new Uint8Array(fs.readFileSync(path.join(SAMPLES, 'xdm', 'IHE_XDM', 'SUBSET01', 'METADATA.XML'))),
      'IHE_XDM/SUBSET01/CRH.PDF': new Uint8Array(PDF),
      'INDEX.HTM': new TextEncoder().encode('<html><body>XDM</body></html>'),
      'README.TXT': new TextEncoder().encode('IHE XDM'),
    });
    const send = async (g: typeof t.a, from: string, raw: Buffer) => {
      const tr = submitter(t, g, from);
      try { return await tr.sendMail({ envelope: { from, to: [RMP] }, raw }); } finally { tr.close(); }
    };
    await send(t.a, LAB, await build({ from: LAB, subject: 'Résultats de biologie', text: hprim, attachments: [{ filename: 'resultats.pdf', content: PDF, contentType: 'application/pdf' }] }));
    await send(t.a, PAUL, await build({ from: PAUL, subject: 'Synthèse médicale', text: 'Volet de synthèse médicale.\n',
      headers: { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' } }));
    await send(t.b, CLAIRE, await build({ from: CLAIRE, subject: "Compte rendu d'hospitalisation", text: 'CR joint (XDM).\n',
      attachments: [{ filename: 'IHE_XDM.ZIP', content: Buffer.from(xdm), contentType: 'application/zip' }] }));

    // The two remote items travel through A's queue and B's relay; wait until B has filed all three.
    type Show = { identity: { familyName: string; givenName: string; birthDate: string }; tabs: Record<string, Array<{ part: string; sender: string; type: string }>> };
    const filing = await filingFor(t.b.ctx! as never);
    const show = await waitFor(async () => {
      const found = await filing.search('dup');
      if (found.length !== 1) return undefined;
      const s = (await filing.show(found[0]!.id)) as unknown as Show;
      return s.tabs.biology && s.tabs.summary && s.tabs.reports ? s : undefined;
    }, 60_000, 'three items filed on gateway B');
    expect(show.identity).toMatchObject({ familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30' });
    expect(show.tabs.biology!.map((d) => d.part).sort()).toEqual(['body', 'resultats.pdf']);
    expect(show.tabs.biology!.every((d) => d.sender === LAB)).toBe(true);
    expect(show.tabs.summary!.map((d) => d.sender)).toEqual([PAUL]);
    expect(show.tabs.reports!.some((d) => d.sender === CLAIRE && d.type === 'hospital-report')).toBe(true);

    // The record server's own view over IMAP: clear routing fields, content still sealed.
    const c = new ImapFlow({ host: '127.0.0.1', port: portsOf(t.b)['imapTls']!, secure: true, logger: false, tls: { ca: caPem(t), servername: 'localhost' }, auth: { user: RMP, pass: PASSWORD } });
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const sources: string[] = [];
      for await (const m of c.fetch('1:*', { source: true })) sources.push(m.source!.toString('latin1'));
      expect(sources).toHaveLength(3);
      for (const s of sources) {
        expect(s).toMatch(/^X-Medgate-Route-Verified: valid; signer=/);
        expect(s).toContain('X-Medgate-Route-Patient-Family: DUPONT');
        expect(s).toContain('multipart/encrypted');
        expect(s).not.toContain('Hémoglobine');
        expect(s).not.toContain('Volet de synth');
      }
      expect(sources.some((s) => s.includes('X-Medgate-Route-Patient-INS: 159018002121980^^^&1.2.250.1.213.1.4.10&ISO'))).toBe(true);
    } finally {
      await c.logout();
    }
  });

  it('the record server\'s gateway applies its own rights matrix: a GP\'s biology sealed elsewhere and relayed is refused (550 5.7.1)', async () => {
    // Sealed on A as the operator command `medgate message seal` does (its services, in process), so
    // A's submission checks are not in the way, then relayed to B with A's gateway certificate, as a
    // gateway that skipped its checks would.
    // A biology result the GP typed himself (no lab's HPRIM header, no XDM author): he is its author.
    const raw = await build({ from: PAUL, subject: 'PATIENT: DUPONT Jean 30/01/1959 Résultats de biologie', text: 'Résultats de biologie\nHémoglobine 14,2 g/dL\n' });
    const ctx = t.a.ctx!;
    const sealer = await ctx.sealer();
    const unlocked = await ctx.accounts.unlock(PAUL, PASSWORD, { via: 'cli' });
    const recipient = await sealer.resolveRecipient(RMP);
    expect(recipient.ok).toBe(true);
    const sealed = await sealer.seal({ raw, envelopeFrom: PAUL, sender: { address: PAUL, pgpKey: unlocked.pgpKey, entry: (await ctx.directory.lookup(PAUL))! }, recipients: [recipient as never] });
    const tls = path.join(t.a.dir, 'data', 'tls');
    const relay = nodemailer.createTransport({
      host: '127.0.0.1', port: t.b.relayPort, secure: false, requireTLS: true,
      tls: { ca: caPem(t), key: fs.readFileSync(path.join(tls, 'gateway.key.pem'), 'utf8'), cert: fs.readFileSync(path.join(tls, 'gateway.crt.pem'), 'utf8') },
    });
    try {
      await expect(relay.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw: sealed.sealed })).rejects.toMatchObject({
        responseCode: 550, response: expect.stringMatching(/5\.7\.1 Refused by the shared-record rights matrix \(role general-practitioner\): a general practitioner cannot author a biology report/),
      });
    } finally {
      relay.close();
    }
    const audit = (await (await t.b.store()).audit.list(1, 100_000)).map((r) => JSON.stringify(r)).join('\n');
    expect(audit).toMatch(/"action":"smtp\.relay\.data\.refused".*"code":"rights-refused"/);
  }, 60_000);
});
