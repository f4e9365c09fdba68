/**
 * Filing from several nodes: two FilingService instances (two "nodes", each with its own store
 * connection and its own process-local queue) on one database file 50 first documents of the same
 * new patient at once. The database must make it one patient (docs/operations.md, cross-node
 * filing), on both stores.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { FilingService } from '../../src/filing/index.js';
import { tempDir } from '../helpers/gateway.js';
import { contract } from '../store/contract/stores.js';
import { DUPONT, blobId, messageId } from './helpers.js';

contract('filing across nodes', (h) => {
  it('50 first documents of one new patient filed at once through two nodes make exactly one patient', async () => {
    const dir = tempDir('medgate-filing-nodes-');
    try {
      const nodes = [await FilingService.open(h().store.filing, dir), await FilingService.open((await h().another()).filing, dir)];
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => nodes[i % 2]!.file({
        patient: { ...DUPONT }, messageId: messageId(), blobId: blobId(), date: '2026-03-01',
        sender: { address: 'paul.demo@cabinet-antony.medgate.test', role: 'general-practitioner' },
        documents: [{ part: 'body', type: 'letter' }], contentDigest: null, verified: true, signerFingerprint: null,
      })));
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
