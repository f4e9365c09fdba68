/**
 * A graceful stop does not wait for a peer's idle pooled connection. After a relay, the sending
 * gateway keeps its connection to the peer's relay open for 30 s (src/smtp/outbound/send-to-peer.ts),
 * and smtp-server's close waited as long for it: a `serve` stopped with SIGTERM took 30 s. Now the
 * relay (and submission, for a doctor's idle client) tells an idle connection 421 and closes it (src/smtp/close-idle.ts), and a stopping
 * gateway closes its own pooled connections before its relay. Two gateways built in this process
 * from the wiring `serve` uses; each stopped and started again (restart) on its data.
 */
import net from 'node:net';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { startGatewayPair, type GatewayPair } from '../helpers/in-process-pair.js';
import { waitFor } from './relay-fixture.js';

const A_DOMAIN = 'cabinet-antony.medgate.test';
const B_DOMAIN = 'cardio-sceaux.medgate.test';
const PAUL = `paul.demo@${A_DOMAIN}`;
const CLAIRE = `claire.martin@${B_DOMAIN}`;
const PASSWORD = 'correct horse battery';
/** Far below the 30 s idle time of the pool (and smtp-server's close timeout), generous for a busy machine. */
const STOP_BOUND_MS = 10_000;


describeOnStores('a graceful stop after a relay', (store) => {
  let t: GatewayPair;
  beforeAll(async () => {
    t = await startGatewayPair({
      store,
      a: { domain: A_DOMAIN, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PASSWORD }] },
      b: { domain: B_DOMAIN, accounts: [{ address: CLAIRE, kind: 'person', rpps: '10100000025', password: PASSWORD }] },
    });
  }, 180_000);
  afterAll(async () => { await t?.stop(); });

  const relayOne = async (n: number): Promise<void> => {
    const before = (await t.b.mailbox(CLAIRE, 'INBOX')).length;
    const tr = nodemailer.createTransport({
      host: '127.0.0.1', port: t.a.ports.smtpSubmission!, secure: false, requireTLS: true,
      auth: { user: PAUL, pass: PASSWORD }, tls: { ca: t.caPem, servername: 'localhost' },
    });
    try {
      await tr.sendMail({ from: PAUL, to: CLAIRE, subject: `Courrier ${n}`, text: 'Compte rendu.\n' });
    } finally { tr.close(); }
    await waitFor(async () => (await t.b.mailbox(CLAIRE, 'INBOX')).length > before, 60_000, 'the message on B');
  };

  it('the receiving gateway stops at once, closing the idle connection the sender keeps to its relay', async () => {
    await relayOne(1);
    // A's pooled connection to B's relay is open and idle now.
    const started = Date.now();
    await t.b.restart();
    expect(Date.now() - started).toBeLessThan(STOP_BOUND_MS);
    // A's pool saw the 421: the next relay opens a fresh connection to the restarted B.
    await relayOne(2);
  }, 120_000);

  it('the sending gateway stops at once too, and closes its pooled connections', async () => {
    await relayOne(3);
    const started = Date.now();
    await t.a.restart();
    expect(Date.now() - started).toBeLessThan(STOP_BOUND_MS);
    // Nothing of A's left open on B's relay: B stops at once as well.
    const bStarted = Date.now();
    await t.b.restart();
    expect(Date.now() - bStarted).toBeLessThan(STOP_BOUND_MS);
  }, 120_000);

  it('a doctor\'s client idle on submission is told 421 and does not hold the stop', async () => {
    // Outlook and practice software keep a submission connection open between messages.
    const socket = net.connect(t.a.ports.smtpSubmission!, '127.0.0.1');
    let heard = '';
    socket.on('data', (d: Buffer) => { heard += d.toString('latin1'); });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    await waitFor(async () => heard.startsWith('220 '), 10_000, 'the greeting');
    socket.write('EHLO poste-du-cabinet.example\r\n');
    await waitFor(async () => /^250 /m.test(heard), 10_000, 'the EHLO reply');
    const started = Date.now();
    await t.a.restart();
    expect(Date.now() - started).toBeLessThan(STOP_BOUND_MS);
    await closed;
    expect(heard).toMatch(/^421 .*shutting down/m);
  }, 120_000);
});
