import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/in-process-gateway.js';
import YAML from 'yaml';
import type { GatewayContext } from '../../src/context.js';
import { loadConfig } from '../../dist/config/load.js';
import { createContext } from '../../dist/context.js';
import { CLAIRE, PASSWORD, PAUL, mailboxBlobs, serve, setupTwoGateways, submitter, waitFor, type GatewayHandle, type TwoGateways } from './relay-fixture.js';

interface RecipientRow { queue_id: string; recipient: string; status: string; attempts: number; last_error: string | null; delay_notified: boolean }

/** Every recipient of every queued item, through the store's queue interface. */
async function queueRows(g: GatewayHandle): Promise<RecipientRow[]> {
  const items = await (await g.store()).queue.list();
  return items.flatMap((i) => i.recipients.map((r) => ({
    queue_id: i.id, recipient: r.recipient, status: r.status, attempts: r.attempts, last_error: r.lastError, delay_notified: r.delayNotified,
  })));
}

function message(subject: string): string {
  return [`From: ${PAUL}`, `To: ${CLAIRE}`, `Subject: ${subject}`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', 'Texte du message.', ''].join('\r\n');
}

async function submit(t: TwoGateways, subject: string, dsn?: { notify?: string[]; ret?: 'FULL' | 'HDRS'; envid?: string }): Promise<string> {
  const transport = submitter(t, t.a, PAUL);
  try {
    const info = await transport.sendMail({ envelope: { from: PAUL, to: [CLAIRE] }, raw: message(subject), ...(dsn ? { dsn: { ...dsn, notify: dsn.notify as never } } : {}) });
    const id = /queued as ([0-9a-f-]{36})/.exec(info.response)?.[1];
    if (!id) throw new Error(`no queue id in ${info.response}`);
    return id;
  } finally {
    transport.close();
  }
}

/** The parts of a multipart/report (one level), transfer-decoded. */
function reportParts(report: string): Array<{ type: string; body: string }> {
  const boundary = /boundary="([^"]+)"/.exec(report)![1]!;
  return report.split(`--${boundary}`).slice(1, -1).map((part) => {
    const at = part.indexOf('\r\n\r\n');
    const head = part.slice(0, at);
    let body = part.slice(at + 4);
    if (/Content-Transfer-Encoding: quoted-printable/i.test(head)) {
      body = Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
    }
    return { type: /Content-Type: ([^;\s]+)/i.exec(head)![1]!.toLowerCase(), body };
  });
}

/**
 * Opens sealed messages as Paul the way `medgate message open --as` does (a context on A's config,
 * Paul's key unlocked, the sealer's open), in this process: one context for all of them instead of
 * a CLI process each. The original bytes, and the signer the verification vouched for.
 */
async function openAsPaul(t: TwoGateways, sealed: Buffer[]): Promise<Array<{ stdout: string; signer: string }>> {
  const ctx = (await createContext(loadConfig(t.a.config), { logDestination: { write: () => undefined } })) as GatewayContext;
  try {
    const sealer = await ctx.sealer();
    const unlocked = await ctx.accounts.unlock(PAUL, PASSWORD, { via: 'cli' });
    return await Promise.all(sealed.map(async (b) => {
      const res = await sealer.open(b, unlocked.pgpKey);
      expect(res.verification.valid).toBe(true);
      return { stdout: Buffer.from(res.raw).toString('utf8'), signer: res.verification.signer };
    }));
  } finally {
    await ctx.close();
  }
}

describeOnStores('outbound queue: retries, delivery once, delay notices and non-delivery reports', (store) => {
  let t: TwoGateways;

  beforeAll(async () => {
    t = await setupTwoGateways({ store, queue: { retryBaseSeconds: 0.2, retryMaxSeconds: 1, pollMs: 100, maxLifetimeHours: 1, delayNoticeAfterMinutes: 60 } });
    await serve(t.a); // B stays down for now
  }, 150_000);
  afterAll(async () => { await t?.cleanup(); });

  it('peer down → retries with backoff → peer up → delivered exactly once', async () => {
    const id = await submit(t, 'Retry me');
    // `queue list` runs (a process start) while the retries go on: B is down, the item stays pending.
    await waitFor(async () => (await queueRows(t.a)).find((r) => r.queue_id === id && r.attempts >= 1), 15_000, 'a failed attempt');
    const listing = t.a.cli('queue', 'list');
    await waitFor(async () => (await queueRows(t.a)).find((r) => r.queue_id === id && r.attempts >= 3), 15_000, 'three failed attempts');
    const pending = (await queueRows(t.a)).find((r) => r.queue_id === id)!;
    expect(pending.status).toBe('pending');
    expect(pending.last_error).toMatch(/ECONNREFUSED|connect/i);
    const list = await listing;
    expect(list.stdout).toContain(id);
    expect(list.stdout).toMatch(new RegExp(`${CLAIRE}\\s+pending\\s+attempts \\d+\\s+next \\S+\\s+last error: `));

    await serve(t.b);
    await waitFor(async () => (await queueRows(t.a)).find((r) => r.queue_id === id && r.status === 'delivered'), 20_000, 'delivery');
    const listingAll = t.a.cli('queue', 'list', '--json', '--all'); // starts while we wait
    await new Promise((r) => setTimeout(r, 1000)); // more polls must not deliver again
    expect((await mailboxBlobs(t.b, CLAIRE))).toHaveLength(1);
    const json = JSON.parse((await listingAll).stdout) as Array<{ id: string; recipients: Array<{ status: string; attempts: number }> }>;
    expect(json.find((i) => i.id === id)!.recipients[0]).toMatchObject({ status: 'delivered' });
    // No report was due: NOTIFY absent means FAILURE,DELAY, and neither happened.
    expect((await mailboxBlobs(t.a, PAUL, 'INBOX'))).toHaveLength(0);
  }, 60_000);

  it('peer down past the lifetime → a delay notice, then a sealed bilingual non-delivery report in the sender\'s INBOX', async () => {
    await Promise.all([t.a.serve!.stop('SIGTERM'), t.b.serve!.stop('SIGTERM')]);
    const cfg = YAML.parse(fs.readFileSync(t.a.config, 'utf8')) as { queue: Record<string, number> };
    cfg.queue = { ...cfg.queue, maxLifetimeHours: 0.0005, delayNoticeAfterMinutes: 0.01 }; // 1.8 s, 0.6 s
    fs.writeFileSync(t.a.config, YAML.stringify(cfg));
    await serve(t.a);

    const [id, silent] = await Promise.all([submit(t, 'Never delivered', { ret: 'HDRS', envid: 'LGC-4711' }), submit(t, 'Never told', { notify: ['NEVER'] })]);
    await waitFor(async () => (await queueRows(t.a)).filter((r) => [id, silent].includes(r.queue_id) && r.status === 'failed').length === 2, 20_000, 'expiry');
    const reports = (await mailboxBlobs(t.a, PAUL, 'INBOX'));
    expect(reports).toHaveLength(2); // delayed + failed for `id`, nothing for NOTIFY=NEVER

    const opened = (await openAsPaul(t, reports)).map((o) => {
      expect(o.signer).toBe(`postmaster@${t.a.domain}`);
      expect(o.stdout).toMatch(/^Content-Type: multipart\/report;\s*report-type=delivery-status/im);
      const parts = reportParts(o.stdout);
      expect(parts.map((p) => p.type)).toEqual(['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
      const [human, status, headers] = parts.map((p) => p.body) as [string, string, string];
      expect(o.stdout).toMatch(new RegExp(`^From: .*postmaster@${t.a.domain}`, 'm'));
      expect(human).toContain(CLAIRE);
      expect(status).toContain('Original-Envelope-Id: LGC-4711');
      expect(status).toContain(`Final-Recipient: rfc822; ${CLAIRE}`);
      expect(headers).toMatch(/^X-Medgate-Format: medgate\/1/m); // RET=HDRS: the sealed original's header only
      expect(o.stdout).not.toContain('Never delivered'); // the original subject is sealed, never echoed
      return { text: human, status };
    });
    const failed = opened.find((o) => o.status.includes('Action: failed'))!;
    const delayed = opened.find((o) => o.status.includes('Action: delayed'))!;
    expect(failed.text).toContain("n'a pas pu être remis");
    expect(failed.text).toContain('could not be delivered');
    expect(failed.status).toMatch(/Status: 4\.4\.7/);
    expect(failed.status).toMatch(/Diagnostic-Code: x-medgate; .*ECONNREFUSED/);
    expect(delayed.text).toContain('est retardée');
    expect(delayed.text).toContain('is delayed');
    expect(delayed.status).toMatch(/Will-Retry-Until: /);

    // The sealed report reveals nothing in clear but the neutral outer fields.
    expect(reports[0]!.toString('latin1')).toMatch(/^X-Medgate-Format: medgate\/1/m);
  }, 60_000);

  it('`medgate queue retry --failed` and `remove` act on an item and are audited', async () => {
    const failed = (await queueRows(t.a)).find((r) => r.status === 'failed')!;
    // Independent of each other (an unknown id changes nothing): two CLI processes at once.
    const [unknown, plain] = await Promise.all([t.a.cli('queue', 'retry', 'no-such-id'), t.a.cli('queue', 'retry', failed.queue_id)]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no queue item no-such-id');
    expect(plain.stdout).toContain('0 recipient(s) due now');
    const retried = await t.a.cli('queue', 'retry', failed.queue_id, '--failed');
    expect(retried.stdout).toContain('1 recipient(s) due now');
    const removed = await t.a.cli('queue', 'remove', failed.queue_id);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await queueRows(t.a)).some((r) => r.queue_id === failed.queue_id)).toBe(false);
    // The records `medgate audit list` prints, read through the store's audit interface.
    const actions = (await (await t.a.store()).audit.list(1, 1000)).map((r) => r.action);
    expect(actions).toContain('queue.retry');
    expect(actions).toContain('queue.remove');
    expect(actions).toContain('message.dsn');
  }, 30_000);
});
