/**
 * Issue 15 item 4: read receipts (MDN, RFC 8098) from a record server's gateway. A doctor on
 * gateway A asks for a receipt (Disposition-Notification-To) on an item for the record server on
 * gateway B; B files it and sends one sealed MDN back, which the doctor reads in his INBOX.
 * Python's email package is the independent reader of the report. Both gateways are built in this
 * process from the wiring `serve` uses (test/helpers/in-process-pair.ts), on each store.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import nodemailer from 'nodemailer';
import { describeOnStores } from '../helpers/stores.js';
import { startGatewayPair, type GatewayPair } from '../helpers/in-process-pair.js';
import type { InProcessGateway } from '../helpers/in-process-gateway.js';
import { closePeerConnections } from '../../dist/smtp/outbound/send-to-peer.js';
import { waitFor } from '../smtp/relay-fixture.js';

const A_DOMAIN = 'cabinet-antony.medgate.test';
const B_DOMAIN = 'cardio-sceaux.medgate.test';
const PAUL = `paul.demo@${A_DOMAIN}`;
const CLAIRE = `claire.martin@${B_DOMAIN}`;
const RMP = `rmp@${B_DOMAIN}`;
const PASSWORD = 'correct horse battery';

interface Parsed {
  type: string;
  reportType: string | null;
  parts: string[];
  fields: Record<string, string>;
  subject: string;
  inReplyTo: string | null;
}

/** Python's email package reads the report: content types and the disposition fields. */
function pythonParse(source: Buffer, dir: string): Parsed {
  const file = path.join(dir, `mdn-${Date.now()}-${Math.random().toString(36).slice(2)}.eml`);
  fs.writeFileSync(file, source);
  const script = `
import email, json, sys
from email import policy
m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.default)
parts = [p.get_content_type() for p in m.iter_parts()]
fields = {}
for p in m.iter_parts():
    if p.get_content_type() == 'message/disposition-notification':
        inner = p.get_payload()
        blocks = inner if isinstance(inner, list) else [email.message_from_string(inner)]
        for b in blocks:
            for k, v in b.items():
                fields[k] = str(v)
print(json.dumps({'type': m.get_content_type(), 'reportType': m.get_param('report-type'), 'parts': parts, 'fields': fields,
  'subject': str(m['subject']), 'inReplyTo': m['in-reply-to'] and str(m['in-reply-to'])}))
`;
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as Parsed;
}

async function build(o: { messageId: string; subject: string; text: string; headers?: Record<string, string> }): Promise<Buffer> {
  const raw = await new MailComposer({ from: PAUL, to: RMP, subject: o.subject, text: o.text, messageId: o.messageId, headers: o.headers ?? {} }).compile().build();
  return Buffer.from(raw.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
}

const PATIENT = { 'X-Medgate-Patient-Nom': 'DUPONT', 'X-Medgate-Patient-Prenom': 'Jean', 'X-Medgate-Patient-Naissance': '30/01/1959' };


describeOnStores('read receipts (MDN) from a record server on another gateway', (store) => {
  let t: GatewayPair;
  let a: InProcessGateway;
  let b: InProcessGateway;
  const imap = (): ImapFlow => new ImapFlow({
    host: '127.0.0.1', port: a.ports.imapTls!, secure: true, logger: false,
    tls: { ca: t.caPem, servername: 'localhost' }, auth: { user: PAUL, pass: PASSWORD },
  });
  type Fetched = { uid: number; source: Buffer; flags: Set<string> };
  let seen: { count: number; at: number; mail: Fetched[] } = { count: -1, at: 0, mail: [] };
  /**
   * Sources of PAUL's INBOX on A, as his client fetches them (opened). Polled often: an IMAP session
   * only when the store shows another message count (or a flag may have changed since).
   */
  const inbox = async (o: { fresh?: boolean } = {}): Promise<Fetched[]> => {
    const box = await a.store.mail.getMailbox(PAUL, 'INBOX');
    const count = box ? (await a.store.mail.listMessages(box.id)).length : 0;
    if (!o.fresh && count === seen.count) return seen.mail;
    const c = imap();
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const out: Fetched[] = [];
      if ((c.mailbox as { exists: number }).exists > 0) {
        for await (const m of c.fetch('1:*', { uid: true, source: true, flags: true })) out.push({ uid: m.uid, source: m.source!, flags: m.flags ?? new Set() });
      }
      seen = { count, at: Date.now(), mail: out };
      return out;
    } finally {
      await c.logout();
    }
  };
  const receiptsFor = async (originalId: string) => (await inbox()).filter((m) => m.source.toString('latin1').includes('disposition-notification') && m.source.toString('latin1').includes(originalId));
  const submit = async (raw: Buffer, dsn?: Record<string, unknown>): Promise<void> => {
    const tr = nodemailer.createTransport({
      host: '127.0.0.1', port: a.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: PAUL, pass: PASSWORD }, tls: { ca: t.caPem, servername: 'localhost' },
    });
    try { await tr.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw, ...(dsn ? { dsn } : {}) } as never); } finally { tr.close(); }
  };
  /** B has no receipt left to send and nothing pending in its outbound queue. */
  const bIdle = async (): Promise<boolean> => (await b.store.filing.pendingReceipts(100)).length === 0
    && (await b.store.queue.list()).every((i) => i.recipients.every((r) => r.status !== 'pending'));
  const receiptAudits = async () => (await b.store.audit.list(1, 100_000)).filter((r) => r.action === 'filing.receipt');

  beforeAll(async () => {
    t = await startGatewayPair({
      store,
      a: { domain: A_DOMAIN, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PASSWORD }] },
      b: { domain: B_DOMAIN, accounts: [{ address: CLAIRE, kind: 'person', rpps: '10100000025', password: PASSWORD }, { address: RMP, kind: 'rmp', password: PASSWORD }] },
    });
    ({ a, b } = t);
  }, 180_000);
  afterAll(async () => { await t?.stop(); });

  it('asked and filed: one `processed` MDN in the sender\'s INBOX, machine-readable, beside the DSN NOTIFY=SUCCESS', async () => {
    const originalId = '<synthese-mdn-1@cabinet-antony.medgate.test>';
    const raw = await build({ messageId: originalId, subject: 'Synthèse médicale DUPONT Jean', text: 'Volet de synthèse médicale.\n', headers: { ...PATIENT, 'Disposition-Notification-To': PAUL } });
    await submit(raw, { notify: ['SUCCESS', 'FAILURE'], ret: 'HDRS', id: 'mdn-1', recipient: PAUL });

    const [mdn] = await waitFor(async () => { const r = await receiptsFor(originalId); return r.length ? r : undefined; }, 60_000, 'the MDN in PAUL\'s INBOX');
    const parsed = pythonParse(mdn!.source, t.root);
    expect(parsed.type).toBe('multipart/report');
    expect(parsed.reportType).toBe('disposition-notification');
    expect(parsed.parts).toEqual(['text/plain', 'message/disposition-notification']);
    expect(parsed.fields).toMatchObject({
      'Final-Recipient': `rfc822; ${RMP}`,
      'Original-Message-ID': originalId,
      Disposition: 'automatic-action/MDN-sent-automatically; processed',
    });
    expect(parsed.fields['Reporting-UA']).toMatch(/; medgate$/);
    expect(parsed.inReplyTo).toBe(originalId);
    // Sealed and signed by B's postmaster; nothing of the patient outside or inside the receipt.
    const text = mdn!.source.toString('utf8');
    expect(text).toMatch(new RegExp(`X-Medgate-Signature: valid; signer=postmaster@${B_DOMAIN.replace(/\./g, '\\.')}`));
    expect(text).not.toMatch(/DUPONT|Jean|Synth/);

    // The DSN asked for by NOTIFY=SUCCESS arrives too: the two reports are independent.
    const dsn = await waitFor(async () => (await inbox()).find((m) => /report-type="?delivery-status/.test(m.source.toString('latin1')) && m.source.toString('latin1').includes('Action: delivered')), 60_000, 'the DSN (delivered)');
    expect(dsn.source.toString('latin1')).toContain(`Final-Recipient: rfc822; ${RMP}`);

    // Exactly one receipt, even after the queue and the receipt pass had time to run again: B has
    // none left to send and nothing left in its queue, and A still holds one.
    await waitFor(bIdle, 30_000, 'B idle');
    expect(await receiptsFor(originalId)).toHaveLength(1);
    expect((await receiptAudits()).map((r) => r.outcome)).toEqual(['ok']);
  }, 120_000);

  it('$MDNSent is a keyword the doctor\'s client may set, and it stays', async () => {
    const c = imap();
    await c.connect();
    let uid: number;
    try {
      const box = await c.mailboxOpen('INBOX');
      expect([...(box.permanentFlags ?? [])]).toContain('\\*');
      uid = (await c.search({ all: true }, { uid: true }) as number[])[0]!;
      expect(await c.messageFlagsAdd(String(uid), ['$MDNSent'], { uid: true })).toBe(true);
    } finally {
      await c.logout();
    }
    const again = (await inbox({ fresh: true })).find((m) => m.uid === uid);
    expect([...again!.flags]).toContain('$MDNSent');
  }, 60_000);

  it('refused by B\'s rights matrix: the relay takes it, files nothing, and one `deleted/error` MDN says "denied" with the reason', async () => {
    // A GP's biology, sealed on A as `medgate message seal` does (A's own submission check is not in
    // the way) and relayed with A's gateway certificate, as in rmp-two-gateways.test.ts.
    const originalId = '<bio-mdn-denied@cabinet-antony.medgate.test>';
    // A biology result the GP typed himself (no lab's HPRIM header): he is its author.
    const raw = await build({ messageId: originalId, subject: 'Résultats de biologie', text: 'Résultats de biologie\nHémoglobine 14,2 g/dL\n', headers: { ...PATIENT, 'Disposition-Notification-To': PAUL } });
    const sealer = await a.ctx.sealer();
    const unlocked = await a.ctx.accounts.unlock(PAUL, PASSWORD, { via: 'cli' });
    const recipient = await sealer.resolveRecipient(RMP);
    expect(recipient.ok).toBe(true);
    const sealed = await sealer.seal({ raw, envelopeFrom: PAUL, sender: { address: PAUL, pgpKey: unlocked.pgpKey, entry: (await a.ctx.directory.lookup(PAUL))! }, recipients: [recipient as never] });
    const tls = path.join(a.dir, 'data', 'tls');
    const relay = nodemailer.createTransport({
      host: '127.0.0.1', port: b.ports.smtpRelay!, secure: false, requireTLS: true,
      tls: { ca: t.caPem, key: fs.readFileSync(path.join(tls, 'gateway.key.pem'), 'utf8'), cert: fs.readFileSync(path.join(tls, 'gateway.crt.pem'), 'utf8') },
    });
    try {
      const info = await relay.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw: sealed.sealed });
      expect(info.response).toMatch(/^250 .*Not filed/);
    } finally {
      relay.close();
    }
    const [mdn] = await waitFor(async () => { const r = await receiptsFor(originalId); return r.length ? r : undefined; }, 60_000, 'the denied MDN');
    const parsed = pythonParse(mdn!.source, t.root);
    expect(parsed.reportType).toBe('disposition-notification');
    expect(parsed.fields.Disposition).toBe('automatic-action/MDN-sent-automatically; deleted/error');
    expect(parsed.fields.Error).toMatch(/^denied by the shared-record rights matrix: a general practitioner cannot author a biology report/);
    expect(parsed.subject).toMatch(/denied/);
    expect(mdn!.source.toString('utf8')).not.toMatch(/DUPONT|Jean|Hémoglobine/);
    // Nothing delivered to the record server, nothing filed.
    expect((await b.store.filing.documentsSince(0, 100_000)).filter((d) => d.senderAddress === PAUL && d.type === 'biology')).toHaveLength(0);
    await waitFor(bIdle, 30_000, 'B idle');
    expect(await receiptsFor(originalId)).toHaveLength(1);
  }, 120_000);

  it('a restart between sending and marking sent still gives exactly one receipt', async () => {
    const originalId = '<synthese-mdn-restart@cabinet-antony.medgate.test>';
    // Fault injection through the store interface: B sends the receipt, then "dies" before marking
    // it sent — the state a crash right after the send leaves (recorded, not marked, yet delivered).
    // B's store keeps failing so until the restart, which opens a new one.
    const filing = b.store.filing;
    let failed = 0;
    filing.markReceiptSent = async () => { failed++; throw new Error('injected: the gateway stopped before marking the receipt sent'); };
    const raw = await build({ messageId: originalId, subject: 'Synthèse médicale', text: 'Volet de synthèse.\n', headers: { ...PATIENT, 'Disposition-Notification-To': PAUL } });
    await submit(raw);
    await waitFor(async () => (await receiptsFor(originalId)).length === 1, 60_000, 'the first MDN');
    expect(failed).toBeGreaterThanOrEqual(1); // more if B's periodic pass came by meanwhile
    // Recorded, delivered, not marked sent.
    expect((await filing.pendingReceipts(100)).map((r) => r.originalMessageId)).toEqual([originalId]);

    const logsBefore = b.logs.length;
    const okAudits = async (): Promise<number> => (await receiptAudits()).filter((r) => r.outcome === 'ok').length;
    const okBefore = await okAudits();
    // A crash resets the connections A's queue keeps open to B's relay (idle for 30 s after a
    // delivery); a graceful stop would wait for them (smtp-server's close timeout, 30 s). A drops
    // them first, as B's crash would have.
    closePeerConnections(a.running.init.tls);
    await b.restart();
    // The start-up pass sends it again (B's log says so, and its queue delivers it to A); the fixed
    // outer Message-ID makes it the same message for A's relay, which does not place it twice.
    await waitFor(async () => {
      const pending = (await b.store.filing.pendingReceipts(10_000)).some((r) => r.originalMessageId === originalId);
      const logs = b.logs.slice(logsBefore);
      return !pending && logs.some((l) => l.includes('"msg":"read receipt sent"')) && logs.some((l) => l.includes('<mdn.') && l.includes('"msg":"queue: delivered"'));
    }, 60_000, 'the receipt sent again after the restart');
    // The resend is audited once (the first send never reached its audit record).
    expect(await okAudits()).toBe(okBefore + 1);
    await waitFor(bIdle, 30_000, 'B idle');
    expect(await receiptsFor(originalId)).toHaveLength(1);
  }, 180_000);
});
