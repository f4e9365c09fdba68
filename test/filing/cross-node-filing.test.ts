/**
 * Filing from several nodes: two FilingService instances (two "nodes", each with its own store
 * connection and its own process-local queue) on one database file 50 first documents of the same
 * new patient at once. The database must make it one patient (docs/operations.md, cross-node
 * filing), on both stores: two store instances in this process, then two OS processes.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { FilingService } from '../../src/filing/index.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import { tempDir } from '../helpers/gateway.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { describeOnStores } from '../helpers/stores.js';
import { contract } from '../store/contract/stores.js';
import { DUPONT, blobId, messageId } from './helpers.js';

const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

/** A letter about DUPONT Jean, as a delivery would file it (a new message each time). */
const firstDocument = () => ({
  patient: { ...DUPONT }, messageId: messageId(), blobId: blobId(), date: '2026-03-01',
  sender: { address: 'paul.demo@cabinet-antony.medgate.test', role: 'general-practitioner' as const },
  documents: [{ part: 'body', type: 'letter' as const }], contentDigest: null, verified: true, signerFingerprint: null,
});

contract('filing across nodes', (h) => {
  it('50 first documents of one new patient filed at once through two nodes make exactly one patient', async () => {
    const dir = tempDir('medgate-filing-nodes-');
    try {
      const nodes = [await FilingService.open(h().store.filing, dir), await FilingService.open((await h().another()).filing, dir)];
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => nodes[i % 2]!.file(firstDocument())));
      const patients = await h().store.filing.listPatients();
      expect(patients.map((p) => p.status)).toEqual(['active']);
      expect(new Set(results.map((r) => r.patientId))).toEqual(new Set([patients[0]!.id]));
      expect(results.filter((r) => r.outcome === 'new')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'matched')).toHaveLength(49);
      expect(await h().store.filing.listReconcile()).toEqual([]);
      expect(await h().store.filing.documentsOfPatient(patients[0]!.id)).toHaveLength(50);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/**
 * The same with each "node" an OS process of its own (its own connections and process-local queue:
 * nothing shared with this one but the database), on both stores. PostgreSQL: the decision's
 * transaction-level advisory locks. SQLite: the database file's write lock (BEGIN IMMEDIATE), which
 * other processes wait for: one `serve` owns a SQLite data directory (two `serve` on one SQLite
 * file are not a supported deployment: no change feed, no queue leases), but operator commands and
 * other processes write to the same file, and cannot interleave with a filing decision.
 */
describeOnStores('filing across processes', (kind) => {
  it('25 first documents from this process and 25 from another one, at once, make exactly one patient', async () => {
    const dir = tempDir('medgate-filing-procs-');
    const file = path.join(dir, 'db', 'medgate.db');
    const db = kind === 'postgres' ? await createTestDatabase() : undefined;
    const open = `kind === 'postgres' ? await PgStore.open({ url: where, nodeId: 'other-process', poolSize: 4 }) : SqliteStore.open(where)`;
    const store: Store = db ? await PgStore.open({ url: db.url, nodeId: 'this-process', poolSize: 4 }) : SqliteStore.open(file);
    try {
      await store.migrate();
      const here = await FilingService.open(store.filing, dir);
      // The other process: the built store and filing service (as `serve` runs them) on the same
      // database and filing key; it files when told to on stdin and prints the outcomes.
      const child = spawn(process.execPath, ['--input-type=module', '-e', `
        const { SqliteStore } = await import(${JSON.stringify(path.join(DIST, 'store/sqlite/sqlite-store.js'))});
        const { PgStore } = await import(${JSON.stringify(path.join(DIST, 'store/postgres/pg-store.js'))});
        const { FilingService } = await import(${JSON.stringify(path.join(DIST, 'filing/index.js'))});
        const [kind, where, dir, patient] = process.argv.slice(1);
        const store = ${open};
        const filing = await FilingService.open(store.filing, dir);
        const rnd = () => Math.random().toString(16).slice(2);
        process.stdout.write('ready\\n');
        process.stdin.once('data', async () => {
          const results = await Promise.all(Array.from({ length: 25 }, () => filing.file({
            patient: JSON.parse(patient), messageId: '<sealed-' + rnd() + '@medgate>', blobId: (rnd() + rnd() + rnd() + rnd()).padEnd(64, '0').slice(0, 64),
            date: '2026-03-01', sender: { address: 'paul.demo@cabinet-antony.medgate.test', role: 'general-practitioner' },
            documents: [{ part: 'body', type: 'letter' }], contentDigest: null, verified: true, signerFingerprint: null,
          })));
          await store.close();
          process.stdout.write(JSON.stringify(results.map((r) => ({ outcome: r.outcome, patientId: r.patientId }))) + '\\n');
        });
      `, kind, db?.url ?? file, dir, JSON.stringify(DUPONT)], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.setEncoding('utf8');
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: string) => { out += d; if (out.startsWith('ready\n')) resolve(); });
        child.once('exit', (code) => reject(new Error(`the other process exited (${code}) before it was ready`)));
      });
      child.stdin.end('go\n');
      const mine = await Promise.all(Array.from({ length: 25 }, () => here.file(firstDocument())));
      expect(await exited).toBe(0);
      const theirs = JSON.parse(out.slice('ready\n'.length)) as Array<{ outcome: string; patientId: string }>;
      const patients = await store.filing.listPatients();
      expect(patients.map((p) => p.status)).toEqual(['active']);
      const results = [...mine, ...theirs];
      expect(new Set(results.map((r) => r.patientId))).toEqual(new Set([patients[0]!.id]));
      expect(results.filter((r) => r.outcome === 'new')).toHaveLength(1);
      expect(await store.filing.listReconcile()).toEqual([]);
      expect(await store.filing.documentsOfPatient(patients[0]!.id)).toHaveLength(50);
    } finally {
      await store.close();
      await db?.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
