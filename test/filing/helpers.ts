import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RoutingHeader, Verification } from '../../src/crypto/seal/index.js';
import { FilingService } from '../../src/filing/index.js';
import { PgStore } from '../../src/store/postgres/pg-store.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import type { Store } from '../../src/store/types.js';
import type { StoreKind } from '../helpers/stores.js';
import { bytesAtRest } from '../helpers/at-rest.js';
import { createTestDatabase } from '../helpers/postgres.js';

export interface FilingFixture {
  kind: StoreKind;
  dir: string;
  store: Store;
  filing: FilingService;
  /**
   * Everything the store holds, as raw bytes: the SQLite file and its WAL, or every row of every
   * table of the PostgreSQL database as text (what a stolen disk or dump would show).
   */
  rawContents(): Promise<Buffer[]>;
  close(): Promise<void>;
}

export async function filingFixture(kind: StoreKind = 'sqlite'): Promise<FilingFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-filing-'));
  if (kind === 'sqlite') {
    const dbFile = path.join(dir, 'medgate.db');
    const store = SqliteStore.open(dbFile);
    await store.migrate();
    const filing = await FilingService.open(store.filing, dir);
    return {
      kind, dir, store, filing,
      rawContents: () => bytesAtRest({ sqliteFile: dbFile }),
      async close() { await store.close(); fs.rmSync(dir, { recursive: true, force: true }); },
    };
  }
  const db = await createTestDatabase();
  const store = await PgStore.open({ url: db.url, nodeId: 'filing-test', poolSize: 4 });
  await store.migrate();
  const filing = await FilingService.open(store.filing, dir);
  return {
    kind, dir, store, filing,
    rawContents: () => bytesAtRest({ postgresUrl: db.url }),
    async close() { await store.close(); await db.drop(); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

export const VERIFIED: Verification = { valid: true, signer: 'paul.demo@cabinet-antony.medgate.test', fingerprint: 'ab'.repeat(20) };

type Patient = NonNullable<RoutingHeader['patient']>;
export const DUPONT: Patient = { familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30', sex: 'M' };

let counter = 0;
/** A routing header as a sealer would write it. */
export function routing(o: {
  patient?: Patient | null; type?: string; date?: string; sender?: string; role?: string; title?: string;
  documents?: Array<{ part: string; type: string; title?: string; writtenAs?: string }>;
} = {}): RoutingHeader {
  counter++;
  return {
    v: 1,
    messageId: `<orig-${counter}@test>`,
    patient: o.patient === undefined ? DUPONT : o.patient,
    document: { type: o.type ?? 'letter', date: o.date ?? '2024-05-01', ...(o.title ? { title: o.title } : {}) },
    ...(o.documents ? { documents: o.documents } : {}),
    sender: { address: o.sender ?? 'paul.demo@cabinet-antony.medgate.test', role: o.role ?? 'general-practitioner' },
    recipients: ['rmp@cabinet-antony.medgate.test'],
    contentDigest: 'cd'.repeat(32),
    sealedAt: new Date().toISOString(),
  };
}

export function messageId(): string {
  return `<sealed-${Math.random().toString(36).slice(2)}@medgate>`;
}

export function blobId(): string {
  return Math.random().toString(16).slice(2).padEnd(64, '0').slice(0, 64);
}
