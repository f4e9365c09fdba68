/**
 * Issue 15 item 4: read receipts (MDN, RFC 8098) from a record server's gateway. A doctor on
 * gateway A asks for a receipt (Disposition-Notification-To) on an item for the record server on
 * gateway B; B files it and sends one sealed MDN back, which the doctor reads in his INBOX.
 * Python's email package is the independent reader of the report.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import nodemailer from 'nodemailer';
import { runCli, SAMPLES } from '../helpers/gateway.js';
import { B_DOMAIN, PASSWORD, PAUL, caPem, filedDocuments, serve, setupTwoGateways, submitter, waitFor, type TwoGateways } from '../smtp/relay-fixture.js';

const RMP = `rmp@${B_DOMAIN}`;

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

describe('read receipts (MDN) from a record server on another gateway', () => {
  let t: TwoGateways;
  const imap = (): ImapFlow => new ImapFlow({
    host: '127.0.0.1', port: t.a.serve!.ports.imapTls!, secure: true, logger: false,
    tls: { ca: caPem(t), servername: 'localhost' }, auth: { user: PAUL, pass: PASSWORD },
  });
  /** Sources of PAUL's INBOX on A, as his client fetches them (opened). */
  const inbox = async (): Promise<Array<{ uid: number; source: Buffer; flags: Set<string> }>> => {
    const c = imap();
    await c.connect();
    try {
      await c.mailboxOpen('INBOX');
      const out: Array<{ uid: number; source: Buffer; flags: Set<string> }> = [];
      if ((c.mailbox as { exists: number }).exists === 0) return out;
      for await (const m of c.fetch('1:*', { uid: true, source: true, flags: true })) out.push({ uid: m.uid, source: m.source!, flags: m.flags ?? new Set() });
      return out;
    } finally {
      await c.logout();
    }
  };
  const receiptsFor = async (originalId: string) => (await inbox()).filter((m) => m.source.toString('latin1').includes('disposition-notification') && m.source.toString('latin1').includes(originalId));

  beforeAll(async () => {
    t = await setupTwoGateways({ serviceAccounts: { b: [{ address: RMP, kind: 'rmp' }] } });
    await Promise.all([serve(t.a), serve(t.b)]);
  }, 180_000);
  afterAll(async () => { await t?.cleanup(); });

  it('asked and filed: one `processed` MDN in the sender\'s INBOX, machine-readable, beside the DSN NOTIFY=SUCCESS', async () => {
    const originalId = '<synthese-mdn-1@cabinet-antony.medgate.test>';
    const raw = await build({ messageId: originalId, subject: 'Synthèse médicale DUPONT Jean', text: 'Volet de synthèse médicale.\n', headers: { ...PATIENT, 'Disposition-Notification-To': PAUL } });
    const tr = submitter(t, t.a, PAUL);
    try {
      await tr.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw, dsn: { notify: ['SUCCESS', 'FAILURE'], ret: 'HDRS', id: 'mdn-1', recipient: PAUL } } as never);
    } finally { tr.close(); }

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

    // Exactly one receipt, even after the queue and the receipt pass had time to run again.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await receiptsFor(originalId)).toHaveLength(1);
    const audit = (await t.b.cli('audit', 'list')).stdout;
    expect(audit).toMatch(/"action":"filing\.receipt","outcome":"ok"/);
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
    const again = (await inbox()).find((m) => m.uid === uid);
    expect([...again!.flags]).toContain('$MDNSent');
  }, 60_000);

  it('refused by B\'s rights matrix: the relay takes it, files nothing, and one `deleted/error` MDN says "denied" with the reason', async () => {
    // A GP's biology, sealed on A with the operator command (A's own submission check is not in the
    // way) and relayed with A's gateway certificate, as in rmp-two-gateways.test.ts.
    const originalId = '<bio-mdn-denied@cabinet-antony.medgate.test>';
    // A biology result the GP typed himself (no lab's HPRIM header): he is its author.
    const raw = await build({ messageId: originalId, subject: 'Résultats de biologie', text: 'Résultats de biologie\nHémoglobine 14,2 g/dL\n', headers: { ...PATIENT, 'Disposition-Notification-To': PAUL } });
    const s = await runCli(['message', 'seal', '--from', PAUL, '--to', RMP, '--password', PASSWORD, '--config', t.a.config], { input: raw.toString('latin1') });
    expect(s.code, s.stderr).toBe(0);
    const tls = path.join(t.a.dir, 'data', 'tls');
    const relay = nodemailer.createTransport({
      host: '127.0.0.1', port: t.b.relayPort, secure: false, requireTLS: true,
      tls: { ca: caPem(t), key: fs.readFileSync(path.join(tls, 'gateway.key.pem'), 'utf8'), cert: fs.readFileSync(path.join(tls, 'gateway.crt.pem'), 'utf8') },
    });
    try {
      const info = await relay.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw: s.stdout });
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
    expect((await filedDocuments(t.b)).filter((d) => d.senderAddress === PAUL && d.type === 'biology')).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await receiptsFor(originalId)).toHaveLength(1);
  }, 120_000);

  it('a restart between filing and sending still gives exactly one receipt', async () => {
    const originalId = '<synthese-mdn-restart@cabinet-antony.medgate.test>';
    const raw = await build({ messageId: originalId, subject: 'Synthèse médicale', text: 'Volet de synthèse.\n', headers: { ...PATIENT, 'Disposition-Notification-To': PAUL } });
    const tr = submitter(t, t.a, PAUL);
    try { await tr.sendMail({ envelope: { from: PAUL, to: [RMP] }, raw }); } finally { tr.close(); }
    await waitFor(async () => (await receiptsFor(originalId)).length === 1, 60_000, 'the first MDN');

    // Kill B (SIGKILL) and put its store in the state a crash right after the filing transaction
    // leaves: the receipt recorded, not marked sent. (Worse than that: it was in fact sent already.)
    await t.b.serve!.stop('SIGKILL');
    // Fault injection below the store interfaces (they have no way to unmark a receipt): raw SQL on
    // B's SQLite file while B is down. This suite runs on SQLite only.
    const rw = new Database(path.join(t.b.dir, 'data', 'medgate.db'));
    try {
      const changed = rw.prepare('UPDATE filing_receipts SET sent_at = NULL WHERE original_message_id = ?').run(originalId).changes;
      expect(changed).toBe(1);
    } finally { rw.close(); }
    await serve(t.b);

    // The start-up pass sends it again (B's log says so, and its queue delivers it to A); the fixed
    // outer Message-ID makes it the same message for A's relay, which does not place it twice.
    await waitFor(async () => {
      // Marked sent again: no longer among the pending receipts.
      const pending = (await (await t.b.store()).filing.pendingReceipts(10_000)).some((r) => r.originalMessageId === originalId);
      return !pending && t.b.serve!.logs.some((l) => l.includes('"msg":"read receipt sent"')) && t.b.serve!.logs.some((l) => l.includes('<mdn.') && l.includes('"msg":"queue: delivered"'));
    }, 60_000, 'the receipt sent again after the restart');
    const audit = (await t.b.cli('audit', 'list')).stdout.split('\n').filter((l) => l.includes('"filing.receipt"') && l.includes('"outcome":"ok"'));
    expect(audit.length).toBeGreaterThanOrEqual(2); // this one and its resend (more when the other tests ran)
    await new Promise((r) => setTimeout(r, 1000));
    expect(await receiptsFor(originalId)).toHaveLength(1);
  }, 180_000);
});
