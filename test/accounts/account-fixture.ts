import fs from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { AccountService } from '../../src/accounts/account-service.js';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import { ensureCustodyKey } from '../../src/crypto/gateway-keys.js';
import { unwrapPgpKey } from '../../src/crypto/keys.js';
import { createTestCa, type TestCa } from '../../src/pki/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { AuditRecord } from '../../src/store/types.js';
import { tempDir } from '../helpers/gateway.js';

export const DOMAIN = 'cabinet-test.medgate.test';
export const PASSWORD = 'correct horse battery';

/** A real AccountService over a real SQLite store, with a counter on the Argon2 unwrap and a clock the test moves. */
export interface AccountsFixture {
  dir: string;
  store: SqliteStore;
  audit: AuditTrail;
  /** Builds a service (its own login cache, like a separate process) over the shared store. */
  service(cache?: { ttlSeconds: number; maxEntries: number }): AccountService;
  /** How many Argon2 unwraps the services built here have run. */
  unwraps: () => number;
  /** Moves the services' clock forward. */
  advance(ms: number): void;
  /** Creates a person account with PASSWORD; returns its address. */
  addAccount(local: string, rpps: string): Promise<string>;
  loginRecords(address: string): Promise<AuditRecord[]>;
  close(): Promise<void>;
}

export async function accountsFixture(): Promise<AccountsFixture> {
  const dir = tempDir('medgate-accounts-');
  const store = SqliteStore.open(path.join(dir, 'db', 'm.db'));
  await store.migrate();
  const audit = new AuditTrail(store.audit);
  const ca: Promise<TestCa> = createTestCa({ dir: path.join(dir, 'ca') });
  let unwrapCount = 0;
  let clock = Date.now();
  const service = (cache = { ttlSeconds: 600, maxEntries: 1000 }): AccountService => {
    const s = new AccountService({
      store, audit, domain: DOMAIN, kdfMemoryExponent: 12, minPasswordLength: 12,
      loadCa: () => ca,
      loadCustodyKey: async () => (await ensureCustodyKey(path.join(dir, 'data'), DOMAIN)).privateKey,
      loginCache: { ...cache, now: () => clock },
    });
    s.useKeyUnwrapper(async (wrapped, passphrase) => {
      unwrapCount++;
      return unwrapPgpKey(wrapped, passphrase);
    });
    return s;
  };
  const creator = service({ ttlSeconds: 0, maxEntries: 1 });
  return {
    dir, store, audit, service,
    unwraps: () => unwrapCount,
    advance: (ms) => { clock += ms; },
    addAccount: async (local, rpps) => {
      const created = await creator.create({ address: `${local}@${DOMAIN}`, kind: 'person', password: PASSWORD, rpps });
      return created.account.address;
    },
    loginRecords: async (address) => (await store.audit.list(0, 100_000)).filter((r) => r.action === 'auth.login' && r.actor === address),
    close: async () => {
      await store.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Proves a key is the account's working private key: signs and decrypts with it. */
export async function provesKeyWorks(pgpKey: openpgp.PrivateKey, publicArmored: string): Promise<void> {
  const publicKey = await openpgp.readKey({ armoredKey: publicArmored });
  const signed = await openpgp.sign({ message: await openpgp.createMessage({ text: 'liveness' }), signingKeys: pgpKey });
  const verified = await openpgp.verify({ message: await openpgp.readMessage({ armoredMessage: signed }), verificationKeys: publicKey });
  await verified.signatures[0]!.verified;
  const encrypted = await openpgp.encrypt({ message: await openpgp.createMessage({ text: 'secret' }), encryptionKeys: publicKey });
  const { data } = await openpgp.decrypt({ message: await openpgp.readMessage({ armoredMessage: encrypted as string }), decryptionKeys: pgpKey });
  if (data !== 'secret') throw new Error('the key did not decrypt what was encrypted to the account');
}
