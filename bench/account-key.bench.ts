/**
 * What the first login after the account-key upgrade costs (docs/secure-message-format.md §5.3):
 * an account whose key was stored unsigned has every cache entry rewritten bound to its place
 * (src/mailbox/bind-cache-entries.ts) inside that LOGIN. For ENTRIES entries on SQLite and on a
 * durable PostgreSQL cluster, it prints the time of the rewrite against the baseline of reading
 * the same entries page by page (what the rewrite has to do anyway), measured in the same run.
 *
 *   npx tsx bench/account-key.bench.ts            (ENTRIES=20000 by default)
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bindCacheEntries, type CacheEntryCipher } from '../src/mailbox/bind-cache-entries.js';
import { PgStore } from '../src/store/postgres/pg-store.js';
import { SqliteStore } from '../src/store/sqlite/sqlite-store.js';
import type { Store } from '../src/store/types.js';
import { locatePostgres, PgCluster } from '../test/helpers/postgres.js';

const ENTRIES = Number(process.env['ENTRIES'] ?? 20_000);
const OWNER = 'paul.demo@cabinet-antony.medgate.test';
const KEY = randomBytes(32);

/** The same AES-256-GCM forms as MetaKey (v1 unbound, v2 with its place as associated data). */
const cipher: CacheEntryCipher & { v1(value: unknown): string } = {
  v1(value) {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', KEY, iv);
    const body = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
    return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  },
  decryptUnbound<T>(text: string): T | undefined {
    const [, iv, tag, body] = text.split('.');
    const d = createDecipheriv('aes-256-gcm', KEY, Buffer.from(iv!, 'base64'));
    d.setAuthTag(Buffer.from(tag!, 'base64'));
    return JSON.parse(Buffer.concat([d.update(Buffer.from(body!, 'base64')), d.final()]).toString('utf8')) as T;
  },
  encrypt(value, cacheKey) {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', KEY, iv);
    c.setAAD(Buffer.from(`medgate/1 cache\0${OWNER}\0${cacheKey}`, 'utf8'));
    const body = Buffer.concat([c.update(JSON.stringify(value), 'utf8'), c.final()]);
    return ['v2', iv.toString('base64'), c.getAuthTag().toString('base64'), body.toString('base64')].join('.');
  },
};

/** A realistic entry: a message's facts and IMAP metadata (about 1.5 KB of JSON). */
function entryValue(n: number): unknown {
  return {
    facts: { v: 2, prefix: `X-Medgate-Signature: valid; signer=jl.letest@cabinet-antony.medgate.test; fingerprint=${'ab'.repeat(20)}\r\n`, size: 60_000 + n, fingerprint: 'ab'.repeat(20), error: null, patientFolder: null },
    imap: { envelope: { subject: `Compte rendu ${n}`, from: 'jl.letest@cabinet-antony.medgate.test', date: '2026-12-07' }, bodystructure: 'x'.repeat(1200) },
  };
}

async function runOn(name: string, store: Store): Promise<{ name: string; readMs: number; bindMs: number; bound: number }> {
  await store.migrate();
  for (let n = 0; n < ENTRIES; n++) await store.mail.putMeta(OWNER, randomBytes(32).toString('hex'), cipher.v1(entryValue(n)));
  let t = performance.now();
  let read = 0;
  for (let after = '', page; (page = await store.mail.listMeta(OWNER, after, 500)).length; after = page[page.length - 1]!.key) {
    for (const e of page) if (cipher.decryptUnbound(e.data) !== undefined) read++;
  }
  const readMs = performance.now() - t;
  if (read !== ENTRIES) throw new Error(`read ${read} of ${ENTRIES}`);
  t = performance.now();
  const bound = await bindCacheEntries(store.mail, cipher, OWNER);
  const bindMs = performance.now() - t;
  if (bound !== ENTRIES) throw new Error(`bound ${bound} of ${ENTRIES}`);
  return { name, readMs, bindMs, bound };
}

async function main(): Promise<void> {
  const found = locatePostgres();
  if (!found.ok) throw new Error(`PostgreSQL is needed for this bench: ${found.reason}`);
  console.log(`medgate account-key bench: the first login's rewrite of ${ENTRIES} cache entries; ${os.cpus().length} CPU(s) ${os.cpus()[0]?.model}, Node ${process.version}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-akb-'));
  const cluster = await PgCluster.start(found.bin, { durable: true });
  try {
    const sqlite = SqliteStore.open(path.join(dir, 'medgate.db'));
    const results = [await runOn('sqlite', sqlite)];
    await sqlite.close();
    const db = await cluster.createDatabase('akbench');
    const pg = await PgStore.open({ url: db.url, nodeId: 'bench' });
    results.push(await runOn('postgres', pg));
    await pg.close();
    await db.drop();
    for (const r of results) {
      console.log(`${r.name.padEnd(9)} rewrite ${r.bindMs.toFixed(0).padStart(6)} ms (${(r.bindMs / r.bound * 1000).toFixed(0)} µs an entry)  baseline read ${r.readMs.toFixed(0).padStart(5)} ms  ratio ${(r.bindMs / r.readMs).toFixed(2)}×`);
    }
  } finally {
    await cluster.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

await main();
