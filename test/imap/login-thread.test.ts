/**
 * A LOGIN unwraps the account's key with Node's native Argon2 (src/crypto/native-argon2.ts), not in
 * a sealing thread: after an IMAP LOGIN to an empty INBOX, /metrics shows no sealing thread at all
 * (its memory is summed over the sealing threads: zero when there is none). Before, the unwrap
 * started one, which then held its isolate and Argon2's 64 MiB for 30 s. The key the LOGIN unlocked
 * still opens mail: an APPEND and its FETCH, which start no thread either since own copies are
 * sealed under the account key the LOGIN unwrapped (docs/secure-message-format.md §5.2). On both
 * stores, over real sockets (imapflow, HTTP).
 */
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores, startInProcessGateway, type InProcessGateway } from '../helpers/in-process-gateway.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

describeOnStores('a LOGIN starts no sealing thread', (store) => {
  let gw: InProcessGateway;
  beforeAll(async () => {
    gw = await startInProcessGateway({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }] });
  }, 240_000);
  afterAll(async () => { await gw?.stop(); });

  const sealingHeap = async (): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${gw.ports.http}/metrics`)).text();
    const line = /^medgate_thread_memory_bytes\{thread="sealing",kind="heap_total"\} (\d+)$/m.exec(text);
    if (!line) throw new Error('no sealing heap_total in /metrics');
    return Number(line[1]);
  };

  it('IMAP LOGIN: no sealing thread after it, nor after the unlocked key seals and opens an APPENDed message', async () => {
    expect(await sealingHeap()).toBe(0);
    const c = new ImapFlow({ host: '127.0.0.1', port: gw.ports.imapTls!, secure: true, logger: false, tls: { ca: gw.caPem, servername: 'localhost' }, auth: { user: PAUL, pass: PW } });
    c.on('error', () => undefined);
    await c.connect();
    try {
      expect(await sealingHeap()).toBe(0);
      const raw = Buffer.from(['From: ' + PAUL, 'To: ' + PAUL, 'Subject: Note', 'Message-ID: <login-thread@cabinet-antony.medgate.test>', '', 'Bonjour.', ''].join('\r\n'));
      const appended = await c.append('INBOX', raw, []);
      await c.mailboxOpen('INBOX');
      const m = await c.fetchOne(String((appended as { uid: number }).uid), { source: true }, { uid: true });
      expect(m && m.source!.toString()).toBe(raw.toString());
      expect(await sealingHeap()).toBe(0);
    } finally {
      await c.logout().catch(() => undefined);
    }
  }, 60_000);
});
