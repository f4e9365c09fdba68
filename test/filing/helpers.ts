import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RoutingHeader, Verification } from '../../src/crypto/seal/index.js';
import { FilingService } from '../../src/filing/index.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';

export interface FilingFixture {
  dir: string;
  dbFile: string;
  store: SqliteStore;
  filing: FilingService;
  close(): Promise<void>;
}

export async function filingFixture(): Promise<FilingFixture> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-filing-'));
  const dbFile = path.join(dir, 'medgate.db');
  const store = SqliteStore.open(dbFile);
  await store.migrate();
  const filing = await FilingService.open(store.filing, dir);
  return { dir, dbFile, store, filing, async close() { await store.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
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
