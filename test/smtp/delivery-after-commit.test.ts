import { afterAll, beforeAll, expect, it } from 'vitest';
import type { GatewayContext } from '../../src/context.js';
import { DeliveryService } from '../../src/smtp/delivery.js';
import { describeOnStores, prepareGatewayData, type PreparedGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const JL = 'jl.letest@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

describeOnStores('DeliveryService: once committed, a message is accepted whatever happens next', (store) => {
  let prepared: PreparedGateway;
  let ctx: GatewayContext;

  beforeAll(async () => {
    prepared = await prepareGatewayData({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: JL, kind: 'person', rpps: '10100000041', password: PW }] });
    ctx = prepared.ctx;
  }, 120_000);
  afterAll(async () => { await prepared?.dispose(); });

  it('an audit store failing after the commit does not fail the submission (the client would retry and get it twice)', async () => {
    const sender = await ctx.accounts.unlock(PAUL, PW);
    const rcpt = await (await ctx.sealer()).resolveRecipient(JL);
    if (!rcpt.ok) throw new Error('recipient not resolvable');
    ctx.audit.record = async () => { throw Object.assign(new Error('disk full'), { code: 'STORE_WRITE_FAILED' }); };
    const raw = Buffer.from(`From: ${PAUL}\r\nTo: ${JL}\r\nSubject: essai\r\n\r\nBonjour\r\n`);
    const accepted = await new DeliveryService(ctx).acceptSubmission({
      source: { raw }, sender: { address: PAUL, pgpKey: sender.pgpKey, entry: (await ctx.directory.lookup(PAUL))! }, envelopeFrom: PAUL, recipients: [rcpt],
    });
    expect(accepted.deliveredLocally).toEqual([JL]);
    const inbox = (await ctx.store.mail.getMailbox(JL, 'INBOX'))!;
    expect(await ctx.store.mail.listMessages(inbox.id)).toHaveLength(1);
  });
});
