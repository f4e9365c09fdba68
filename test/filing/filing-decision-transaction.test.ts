/**
 * A filing decision is ONE store transaction (FilingRepo.exclusiveForIdentity), on both stores: its
 * identity locks (PostgreSQL: pg_advisory_xact_lock) and its writes commit or vanish together. A
 * decision that fails after creating the patient, when its documents are inserted, leaves no
 * patient behind; the locks went with its rollback, so the next decision about the same identity
 * runs at once and makes the patient.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { FilingService } from '../../src/filing/index.js';
import type { FilingRepo } from '../../src/store/types.js';
import { tempDir } from '../helpers/gateway.js';
import { contract } from '../store/contract/stores.js';
import { DUPONT, blobId, messageId } from './helpers.js';

/** The store's filing repository, with a fault injected into the documents' insert of a decision. */
function failingDocuments(real: FilingRepo): FilingRepo {
  const faulty = (repo: FilingRepo): FilingRepo => new Proxy(repo, {
    get(target, key, receiver) {
      if (key === 'insertDocuments') return async () => { throw new Error('injected fault: documents not written'); };
      if (key === 'exclusiveForIdentity') {
        return <T>(hashes: string[], work: (r: FilingRepo) => Promise<T>) => target.exclusiveForIdentity(hashes, (locked) => work(faulty(locked)));
      }
      const value = Reflect.get(target, key, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return faulty(real);
}

const item = () => ({
  patient: { ...DUPONT }, messageId: messageId(), blobId: blobId(), date: '2026-03-01',
  sender: { address: 'paul.demo@cabinet-antony.medgate.test', role: 'general-practitioner' as const },
  documents: [{ part: 'body', type: 'letter' as const }], contentDigest: null, verified: true, signerFingerprint: null,
});

contract('a filing decision is one transaction', (h) => {
  it('a decision failing after it created the patient leaves no patient, and releases its identity locks', async () => {
    const dir = tempDir('medgate-filing-tx-');
    try {
      const broken = await FilingService.open(failingDocuments(h().store.filing), dir);
      await expect(broken.file(item())).rejects.toThrow(/injected fault/);
      expect(await h().store.filing.listPatients()).toEqual([]);

      // Another node (its own connection) decides about the same identity: not held up by a lock.
      const other = await FilingService.open((await h().another()).filing, dir);
      const started = Date.now();
      const filed = await other.file(item());
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(filed.outcome).toBe('new');
      const patients = await h().store.filing.listPatients();
      expect(patients.map((p) => p.id)).toEqual([filed.patientId]);
      expect(await h().store.filing.documentsOfPatient(filed.patientId!)).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
