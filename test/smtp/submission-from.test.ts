import { randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/in-process-gateway.js';
import { JL, LGC, PASSWORD, PAUL, RMP, rawMessage, startSubmissionGateway, type SubmissionGateway } from './fixtures/submission-gateway.js';

/**
 * Issue 27 item 6: at the end of DATA a submitted message must be a message, name one From, and that
 * From must be the authenticated account's — or, for an application account, a doctor configured
 * for it (`submission.signFor`). Real sockets, nodemailer; the refusals' exact lines.
 */
describeOnStores('submission From rules (nodemailer)', (store) => {
  let gw: SubmissionGateway;
  beforeAll(async () => {
    gw = await startSubmissionGateway({ store, maxMessageBytes: 4 * 1024 * 1024, extra: { submission: { signFor: { [LGC]: [PAUL] } } } });
  }, 120_000);
  afterAll(async () => { await gw?.stop(); });

  function transport(user: string) {
    return nodemailer.createTransport({
      host: '127.0.0.1', port: gw.starttlsPort, secure: false, requireTLS: true,
      auth: { user, pass: PASSWORD[user]! }, tls: { ca: gw.caPem, servername: 'localhost' },
    });
  }

  /** Sends and returns the final reply line (`code text`), accepted or refused. */
  async function submit(user: string, raw: Buffer, to: string[] = [JL]): Promise<string> {
    const t = transport(user);
    try {
      const info = await t.sendMail({ envelope: { from: user, to }, raw });
      return info.response;
    } catch (err) {
      const e = err as { responseCode?: number; response?: string };
      if (!e.response) throw err;
      return e.response;
    } finally {
      t.close();
    }
  }

  async function refusedWithoutDelivery(user: string, raw: Buffer, expected: string): Promise<void> {
    const before = (await gw.mailbox(JL, 'INBOX')).length;
    expect(await submit(user, raw)).toBe(expected);
    expect((await gw.mailbox(JL, 'INBOX')).length).toBe(before);
  }

  it('a From naming another local doctor: 550 5.7.1, nothing delivered', async () => {
    await refusedWithoutDelivery(PAUL, rawMessage({ from: JL, to: [JL], subject: 'usurpation' }),
      `550 5.7.1 From <${JL}> is not an address of the authenticated account ${PAUL}; send with your own address`);
  });

  it('no From at all: 550 5.6.0', async () => {
    const raw = Buffer.from(rawMessage({ from: PAUL, to: [JL], subject: 'sans expéditeur' }).toString('latin1').replace(/^From: .*\r\n/m, ''), 'latin1');
    expect(raw.toString('latin1')).not.toMatch(/^From:/m);
    await refusedWithoutDelivery(PAUL, raw, `550 5.6.0 The message has no From header field: add "From: <${PAUL}>"`);
  });

  it('random bytes: 554 5.6.0 not a message', async () => {
    const raw = randomBytes(4096);
    await refusedWithoutDelivery(PAUL, raw,
      '554 5.6.0 Not an Internet message: it must start with header fields (From, To, Subject, ...) then a blank line; nothing was accepted');
  });

  it('two From addresses, or a Sender naming someone else: 550', async () => {
    await refusedWithoutDelivery(PAUL, rawMessage({ from: `${PAUL}, ${JL}`, to: [JL], subject: 'deux auteurs' }),
      `550 5.6.0 The From header field must name one address, the sender's <${PAUL}>`);
    await refusedWithoutDelivery(PAUL, rawMessage({ from: PAUL, to: [JL], subject: 'sender', headers: [`Sender: <${JL}>`] }),
      `550 5.7.1 Sender <${JL}> is not the authenticated account ${PAUL}: remove the Sender header field or set it to <${PAUL}>`);
  });

  it('an application account outside its configured doctors: 550 5.7.1 naming the setting', async () => {
    await refusedWithoutDelivery(LGC, rawMessage({ from: JL, to: [JL], subject: 'hors liste' }),
      `550 5.7.1 From <${JL}> is not an address of the authenticated account ${LGC}, nor a doctor this application may sign for (submission.signFor); send with your own address`);
  });

  it('a person may not sign for the doctors of an application, even with Sender set to himself', async () => {
    await refusedWithoutDelivery(JL, rawMessage({ from: PAUL, to: [JL], subject: 'pas une application', headers: [`Sender: ${JL}`] }),
      `550 5.7.1 From <${PAUL}> is not an address of the authenticated account ${JL}; send with your own address`);
  });

  it('allowed: the own address (display name, other case) is 250 and opens with a valid signature', async () => {
    const raw = rawMessage({ from: `"Dr Paul Demo" <${PAUL.toUpperCase()}>`, to: [JL], subject: 'le sien' });
    const before = (await gw.mailbox(JL, 'INBOX')).length;
    expect(await submit(PAUL, raw)).toMatch(/^250 2\.0\.0 Ok: queued as /);
    const inbox = (await gw.mailbox(JL, 'INBOX'));
    expect(inbox.length).toBe(before + 1);
    expect((await gw.openAs(inbox[inbox.length - 1]!, JL)).equals(raw)).toBe(true);
  });

  it('allowed: the application signs for its configured doctor (Sender added), small and above 1 MiB; the recipient opens it', async () => {
    for (const body of ['Résultats joints.', ('ligne de résultats '.repeat(50) + '\r\n').repeat(1500)]) {
      const raw = rawMessage({ from: `Dr Paul Demo <${PAUL}>`, to: [JL], subject: 'pour le docteur', body });
      const before = (await gw.mailbox(JL, 'INBOX')).length;
      expect(await submit(LGC, raw)).toMatch(/^250 2\.0\.0 Ok: queued as /);
      const inbox = (await gw.mailbox(JL, 'INBOX'));
      expect(inbox.length).toBe(before + 1);
      // The seal carries the application's signature: the Sender the gateway put above the message
      // tells the reader whose, and the signature verifies against the application's key.
      const opened = (await gw.openAs(inbox[inbox.length - 1]!, JL));
      expect(opened.equals(Buffer.concat([Buffer.from(`Sender: <${LGC}>\r\n`), raw]))).toBe(true);
    }
  });

  it('allowed: the application with its own Sender already set, and with its own From', async () => {
    const raw = rawMessage({ from: PAUL, to: [JL], subject: 'sender présent', headers: [`Sender: ${LGC}`] });
    expect(await submit(LGC, raw)).toMatch(/^250 /);
    expect((await gw.openAs((await gw.mailbox(JL, 'INBOX')).at(-1)!, JL)).equals(raw)).toBe(true);
    expect(await submit(LGC, rawMessage({ from: LGC, to: [JL], subject: 'le sien' }))).toMatch(/^250 /);
  });

  it('a record server account is held to its own address too', async () => {
    await refusedWithoutDelivery(RMP, rawMessage({ from: PAUL, to: [JL], subject: 'rmp' }),
      `550 5.7.1 From <${PAUL}> is not an address of the authenticated account ${RMP}; send with your own address`);
  });
});
