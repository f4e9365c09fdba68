/** CONDSTORE (RFC 7162): HIGHESTMODSEQ, MODSEQ fetch item, CHANGEDSINCE, UNCHANGEDSINCE, SEARCH MODSEQ. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeOnStores, type StoreKind } from '../helpers/stores.js';
import { simpleMessage } from './fixtures.js';
import { PASSWORD, RawClient, startHarness, USER } from './harness.js';
import { startStoreHarness } from './store-harness.js';

type AnyHarness = Pick<Awaited<ReturnType<typeof startHarness>>, 'tlsPort' | 'client' | 'close'> & { backend: { deliver(user: string, mailbox: string, raw: Buffer): Promise<unknown> } };

// The same suite on the memory backend and on both stores (StoreUserSession).
describe('CONDSTORE [memory]', () => suite('memory'));
describeOnStores('CONDSTORE', (store) => suite(store));

function suite(backend: 'memory' | StoreKind): void {
  let h: AnyHarness;
  beforeAll(async () => {
    h = backend === 'memory' ? await startHarness() : await startStoreHarness(backend);
    for (const subject of ['one', 'two', 'three']) await h.backend.deliver(USER, 'INBOX', simpleMessage({ subject, body: subject }));
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('tracks mod-sequences across STORE, FETCH, SEARCH and conditional STORE', async () => {
    const a = await RawClient.tls(h.tlsPort);
    const b = await RawClient.tls(h.tlsPort);
    expect(await a.command('a0', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/CONDSTORE/);
    await b.command('b0', `LOGIN "${USER}" "${PASSWORD}"`);
    const selected = await a.command('a1', 'SELECT INBOX (CONDSTORE)');
    const highest = Number(/\[HIGHESTMODSEQ (\d+)\]/.exec(selected)?.[1]);
    expect(highest).toBeGreaterThan(0);
    await b.command('b1', 'SELECT INBOX');

    const stored = await a.command('a2', 'STORE 2 +FLAGS (\\Flagged)');
    const modseq = Number(/^\* 2 FETCH \(FLAGS \(\\Flagged \\Recent\) MODSEQ \((\d+)\)\)/m.exec(stored)?.[1]);
    expect(modseq).toBeGreaterThan(highest);

    const changed = await a.command('a3', `FETCH 1:* (FLAGS) (CHANGEDSINCE ${highest})`);
    expect(changed.match(/^\* \d+ FETCH/gm)).toHaveLength(1);
    expect(changed).toMatch(new RegExp(`^\\* 2 FETCH \\(FLAGS \\(\\\\Flagged \\\\Recent\\) MODSEQ \\(${modseq}\\)\\)`, 'm'));

    expect(await a.command('a4', `UID SEARCH MODSEQ ${highest + 1}`)).toMatch(new RegExp(`^\\* SEARCH 2 \\(MODSEQ ${modseq}\\)\\r\\n`, 'm'));

    // Another session changes message 3; a conditional STORE based on the old modseq must fail for it.
    await b.command('b2', 'STORE 3 +FLAGS.SILENT (\\Answered)');
    const conditional = await a.command('a5', `STORE 1,3 (UNCHANGEDSINCE ${highest}) +FLAGS (\\Seen)`);
    expect(conditional).toMatch(/^a5 OK \[MODIFIED 3\]/m);
    expect(conditional).toMatch(/^\* 1 FETCH \(FLAGS \(\\Seen \\Recent\) MODSEQ/m);
    expect(conditional).toMatch(/^\* 3 FETCH \(UID 3 FLAGS \(\\Answered \\Recent\) MODSEQ/m);
    const status = await a.command('a6', 'STATUS INBOX (HIGHESTMODSEQ)');
    expect(Number(/HIGHESTMODSEQ (\d+)/.exec(status)?.[1])).toBeGreaterThan(modseq);
    expect(await a.command('a7', 'ENABLE CONDSTORE X-UNKNOWN')).toMatch(/^\* ENABLED CONDSTORE\r\n/m);
    a.destroy();
    b.destroy();
  });

  it('works with imapflow, which enables CONDSTORE on its own', async () => {
    const client = await h.client();
    const mailbox = await client.mailboxOpen('INBOX');
    expect(BigInt(mailbox.highestModseq ?? 0)).toBeGreaterThan(0n);
    // The last message: on a fresh store mailbox the first one has MODSEQ 1, which CHANGEDSINCE 1 rightly leaves out.
    const message = await client.fetchOne('*', { flags: true }, { changedSince: 1n });
    expect(message && message.modseq).toBeGreaterThan(0n);
  });
}
