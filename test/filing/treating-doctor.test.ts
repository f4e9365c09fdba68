/**
 * Who the treating doctor is (docs/record-server.md §2 "Summaries"), on both stores: the writer of
 * the first summary filed that its writer did not sign as a replacement, unless the operator named
 * one (`patients set-treating`). A replacement's summary is filed beside the treating doctor's,
 * superseding nothing.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { FilingService } from '../../src/filing/index.js';
import { signedAsReplacement } from '../../src/message/classify/replacement.js';
import { tempDir } from '../helpers/gateway.js';
import { contract } from '../store/contract/stores.js';
import { blobId, messageId, routing, VERIFIED } from './helpers.js';

const GP = 'paul.demo@cabinet-antony.medgate.test';
const REPLACEMENT = 'jl.letest@cabinet-antony.medgate.test';

contract('treating doctor', (h) => {
  const withFiling = async (work: (f: FilingService) => Promise<void>): Promise<void> => {
    const dir = tempDir('medgate-treating-');
    try {
      await work(await FilingService.open(h().store.filing, dir));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const summary = (sender: string, date: string, replacement = false) =>
    routing({ type: 'summary', date, sender, documents: [{ part: 'body', type: 'summary', ...(replacement ? { writtenAs: 'replacement' } : {}) }] });

  it('a summary signed as a replacement, filed first, does not make its writer the treating doctor', async () => {
    await withFiling(async (f) => {
      const ingest = (r: ReturnType<typeof routing>) => f.ingest(r, VERIFIED, blobId(), messageId());
      const rep = await ingest(summary(REPLACEMENT, '2024-01-05', true));
      expect(await f.treatingDoctor(rep.patientId!)).toBeNull();
      const own1 = await ingest(summary(GP, '2024-02-01'));
      const own2 = await ingest(summary(GP, '2024-03-01'));
      const rep2 = await ingest(summary(REPLACEMENT, '2024-04-01', true));
      const view = await f.show(rep.patientId!);
      expect(view.treatingDoctor).toBe(GP);
      expect(view.treatingDoctorSetBy).toBe('first-summary');
      const byId = new Map(view.tabs.summary.map((d) => [d.id, d]));
      expect(byId.get(own1.documentIds[0]!)!.supersededBy).toBe(own2.documentIds[0]);
      expect(byId.get(own2.documentIds[0]!)!.supersededBy).toBeNull();
      expect(byId.get(rep.documentIds[0]!)!.supersededBy).toBeNull();
      expect(byId.get(rep2.documentIds[0]!)!).toMatchObject({ supersededBy: null, writtenAs: 'replacement' });
    });
  });

  it('the operator names the treating doctor when an unsigned replacement came first, and can return to the first-summary rule', async () => {
    await withFiling(async (f) => {
      const ingest = (r: ReturnType<typeof routing>) => f.ingest(r, VERIFIED, blobId(), messageId());
      const rep = await ingest(summary(REPLACEMENT, '2024-01-05'));
      const own1 = await ingest(summary(GP, '2024-02-01'));
      const id = rep.patientId!;
      expect(await f.treatingDoctor(id)).toBe(REPLACEMENT);
      // The replacement "stole" it: the GP's summaries were filed beside, superseding nothing.
      const own2 = await ingest(summary(GP, '2024-03-01'));
      expect((await f.show(id)).tabs.summary.find((d) => d.id === own1.documentIds[0])!.supersededBy).toBeNull();

      expect(await f.setTreatingDoctor(id, GP.toUpperCase())).toEqual({ patientId: id, previous: REPLACEMENT });
      const set = await f.show(id);
      expect(set).toMatchObject({ treatingDoctor: GP, treatingDoctorSetBy: 'operator' });
      // From now on the GP's newer summary supersedes his earlier current ones; the replacement's stays beside.
      const own3 = await ingest(summary(GP, '2024-05-01'));
      const after = new Map((await f.show(id)).tabs.summary.map((d) => [d.id, d]));
      expect(after.get(own2.documentIds[0]!)!.supersededBy).toBe(own3.documentIds[0]);
      expect(after.get(rep.documentIds[0]!)!.supersededBy).toBeNull();

      expect(await f.setTreatingDoctor(id, null)).toEqual({ patientId: id, previous: GP });
      expect(await f.show(id)).toMatchObject({ treatingDoctor: REPLACEMENT, treatingDoctorSetBy: 'first-summary' });
    });
  });
});

it('a summary says its writer is a replacement in a doctor\'s words, not in clinical ones', () => {
  expect(signedAsReplacement('Résumé médical\nAntécédents : HTA\n\nDr Jean-Luc Letest, médecin remplaçant du Dr Demo')).toBe(true);
  expect(signedAsReplacement('Synthèse\nAllergies : aucune\nRemplaçante\nDr Letest')).toBe(true);
  expect(signedAsReplacement('Synthèse médicale rédigée en remplacement du Dr Demo')).toBe(true);
  expect(signedAsReplacement('Résumé\nAntécédents : remplacement valvulaire aortique 2019\nTraitement en cours : traitement de remplacement hormonal')).toBe(false);
  expect(signedAsReplacement('Résumé médical\nAntécédents : HTA\nDr Paul Demo')).toBe(false);
});
