/**
 * The IMAP harness over the real store (StoreUserSession on SQLite or PostgreSQL): the in-process
 * gateway's IMAP listener, with the harness's user as an account. `backend.deliver` seals a
 * message to the user and delivers it through the gateway's one local delivery path, so the suites
 * written against the memory backend run unchanged on both stores.
 */
import { randomUUID } from 'node:crypto';
import { ImapFlow } from 'imapflow';
import { sealOwnCopy } from '../../dist/message/seal-own-copy.js';
import { recordFolderName } from '../../dist/mailbox/folder-names.js';
import { accountKeyStoreOf, MetaKey } from '../../dist/mailbox/meta-key.js';
import { startInProcessGateway, type InProcessGateway, type StoreKind } from '../helpers/in-process-gateway.js';
import { PASSWORD, USER } from './harness.js';

export interface StoreHarness {
  gateway: InProcessGateway;
  backend: { deliver(user: string, mailbox: string, raw: Buffer | string, flags?: string[]): Promise<void> };
  tlsPort: number;
  starttlsPort: number;
  client(opts?: { user?: string; pass?: string }): Promise<ImapFlow>;
  close(): Promise<void>;
}

export async function startStoreHarness(store: StoreKind): Promise<StoreHarness> {
  const domain = USER.split('@')[1]!;
  const gateway = await startInProcessGateway({
    store, domain, directory: false, whitelist: false,
    // One sealing thread kept warm: LOGIN unwraps the key there, and the suites' raw clients give a
    // command 5 s, which a thread still loading openpgp on a busy machine can exceed.
    extra: { workers: { sealing: { minThreads: 1, idleSeconds: 600 } } },
    accounts: [{ address: USER, kind: 'application', name: 'Dr Martin (IMAP tests)', password: PASSWORD }],
  });
  const unlocked = await gateway.ctx.accounts.unlock(USER, PASSWORD, { via: 'cli' });
  const metaKey = MetaKey.forAccount(accountKeyStoreOf(gateway.ctx), USER, unlocked.pgpKey);
  const clients: ImapFlow[] = [];
  // A first login, so that the suites' first command does not pay for the thread's start.
  const warm = new ImapFlow({ host: '127.0.0.1', port: gateway.ports['imapTls']!, secure: true, tls: { rejectUnauthorized: false }, auth: { user: USER, pass: PASSWORD }, logger: false });
  warm.on('error', () => {});
  await warm.connect();
  await warm.logout();
  return {
    gateway,
    tlsPort: gateway.ports['imapTls']!,
    starttlsPort: gateway.ports['imap']!,
    backend: {
      async deliver(user, mailbox, raw, flags = []) {
        if (user !== USER) throw new Error(`the store harness has one account (${USER})`);
        const sealed = await sealOwnCopy(Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8'), unlocked.pgpKey, USER, new Date());
        // Into the folder the suites name, as stored (its typed name pseudonymised, folder-names.ts).
        const stored = await recordFolderName(gateway.ctx.store.mail, await metaKey, USER, mailbox);
        await gateway.ctx.store.mail.ensureMailbox(USER, stored);
        await gateway.ctx.localDelivery.deliver(sealed, [{ owner: USER, mailbox: stored, flags, deliveryKey: randomUUID() }]);
      },
    },
    async client(opts = {}) {
      const client = new ImapFlow({
        host: '127.0.0.1', port: gateway.ports['imapTls']!, secure: true, tls: { rejectUnauthorized: false },
        auth: { user: opts.user ?? USER, pass: opts.pass ?? PASSWORD }, logger: false,
      });
      client.on('error', () => {});
      await client.connect();
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.logout().catch(() => c.close())));
      await gateway.stop();
    },
  };
}
