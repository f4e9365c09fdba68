/**
 * Issue 30 follow-up: an export carries the treating doctor the operator named (`patients
 * set-treating`) and the "written as a replacement" mark of a summary, and an import into a fresh
 * gateway keeps both — so the record reads there as it did here (who the treating doctor is, which
 * summary supersedes which). An export written before they were carried still imports (the rule of
 * the first summary applies). Through the export writer and reader the CLI calls, on both stores.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { exportPatients } from '../../src/filing/export.js';
import { importPatients } from '../../src/filing/import.js';
import type { FilingService } from '../../src/filing/index.js';
import { describeOnStores } from '../helpers/stores.js';
import { filingFixture, messageId, routing, VERIFIED, type FilingFixture } from './helpers.js';

const GP = 'paul.demo@cabinet-antony.medgate.test';
const REPLACEMENT = 'jl.letest@cabinet-antony.medgate.test';
const SIGNED_REPLACEMENT = 'marie.remplacante@cabinet-antony.medgate.test';

describeOnStores('export and import keep the treating doctor and the replacement mark', (kind) => {
  const open: FilingFixture[] = [];
  const fixture = async (): Promise<FilingFixture> => { const f = await filingFixture(kind); open.push(f); return f; };
  afterEach(async () => { await Promise.all(open.splice(0).map((f) => f.close())); });

  /**
   * A patient whose first summary came from an unsigned replacement (so the operator named the GP),
   * with the GP's summaries and one a replacement signed as such.
   */
  const source = async (): Promise<{ f: FilingFixture; patientId: string }> => {
    const f = await fixture();
    const file = async (sender: string, date: string, replacement = false): Promise<string> => {
      const sealed = Buffer.from(`sealed ${sender} ${date} ${Math.random()}`);
      const { blobId } = await f.store.mail.commit(sealed, []);
      const r = await f.filing.ingest(routing({ type: 'summary', date, sender, documents: [{ part: 'body', type: 'summary', ...(replacement ? { writtenAs: 'replacement' } : {}) }] }), { ...VERIFIED, signer: sender }, blobId, messageId());
      return r.patientId!;
    };
    const id = await file(REPLACEMENT, '2024-01-05');
    await file(GP, '2024-02-01');
    await f.filing.setTreatingDoctor(id, GP);
    await file(GP, '2024-03-01');
    await file(SIGNED_REPLACEMENT, '2024-04-01', true);
    return { f, patientId: id };
  };

  /** What must read the same on both gateways: the treating doctor, its origin, and each summary's mark and supersession. */
  const reading = async (filing: FilingService, id: string) => {
    const view = await filing.show(id);
    const byWriterDate = new Map(view.tabs.summary.map((d) => [d.id, `${d.sender}@${d.date}`]));
    return {
      treatingDoctor: view.treatingDoctor,
      setBy: view.treatingDoctorSetBy,
      summaries: view.tabs.summary.map((d) => ({ writer: d.sender, date: d.date, writtenAs: d.writtenAs, supersededBy: d.supersededBy ? byWriterDate.get(d.supersededBy) : null }))
        .sort((a, b) => a.date.localeCompare(b.date)),
    };
  };

  it('a fresh gateway importing the export reads the record as the exporting one does', async () => {
    const { f, patientId } = await source();
    const before = await reading(f.filing, patientId);
    expect(before).toMatchObject({ treatingDoctor: GP, setBy: 'operator' });
    expect(before.summaries.find((s) => s.writer === SIGNED_REPLACEMENT)?.writtenAs).toBe('replacement');
    // The GP's later summary superseded his earlier one once he was named.
    expect(before.summaries.find((s) => s.writer === GP && s.date === '2024-02-01')?.supersededBy).toBe(`${GP}@2024-03-01`);

    const out = path.join(f.dir, 'export');
    await exportPatients(f.filing, f.store.mail, { out });
    const [folder] = fs.readdirSync(out);
    const xml = fs.readFileSync(path.join(out, folder!, 'export.xml'), 'utf8');
    expect(xml).toContain(`<treatingDoctor setBy="operator">${GP}</treatingDoctor>`);
    expect(xml).toContain('writtenAs="replacement"');

    const fresh = await fixture();
    const report = await importPatients(fresh.filing, fresh.store.mail, { source: out });
    expect(report.patients).toHaveLength(1);
    expect(report.patients[0]).toMatchObject({ outcome: 'new', treatingDoctor: 'set', documents: { filed: 4, rejected: [] } });
    expect(await reading(fresh.filing, report.patients[0]!.patientId!)).toEqual(before);

    // Imported again: nothing filed twice, the choice stands.
    const again = await importPatients(fresh.filing, fresh.store.mail, { source: out });
    expect(again.patients[0]).toMatchObject({ documents: { filed: 0, alreadyPresent: 4 }, treatingDoctor: 'set' });
    expect(await reading(fresh.filing, report.patients[0]!.patientId!)).toEqual(before);
  });

  it('an operator\'s own choice on the importing gateway is kept, and said so', async () => {
    const { f } = await source();
    const out = path.join(f.dir, 'export');
    await exportPatients(f.filing, f.store.mail, { out });
    const other = await fixture();
    const first = await importPatients(other.filing, other.store.mail, { source: out });
    const id = first.patients[0]!.patientId!;
    await other.filing.setTreatingDoctor(id, REPLACEMENT);
    const second = await importPatients(other.filing, other.store.mail, { source: out });
    expect(second.patients[0]!.treatingDoctor).toBe('kept');
    expect(await other.filing.show(id)).toMatchObject({ treatingDoctor: REPLACEMENT, treatingDoctorSetBy: 'operator' });
  });

  it('an export written before the choice and the mark were carried still imports, by the first-summary rule', async () => {
    const { f } = await source();
    const out = path.join(f.dir, 'export');
    await exportPatients(f.filing, f.store.mail, { out });
    const [folder] = fs.readdirSync(out);
    const xmlFile = path.join(out, folder!, 'export.xml');
    // As the earlier writer wrote it: neither the element nor the attribute.
    fs.writeFileSync(xmlFile, fs.readFileSync(xmlFile, 'utf8').replace(/\s*<treatingDoctor[^>]*>[^<]*<\/treatingDoctor>/, '').replace(/ writtenAs="replacement"/g, ''));
    expect(fs.readFileSync(xmlFile, 'utf8')).not.toMatch(/treatingDoctor|writtenAs/);
    const fresh = await fixture();
    const report = await importPatients(fresh.filing, fresh.store.mail, { source: out });
    expect(report.patients[0]).toMatchObject({ outcome: 'new', documents: { filed: 4, rejected: [] } });
    expect(report.patients[0]!.treatingDoctor).toBeUndefined();
    const view = await fresh.filing.show(report.patients[0]!.patientId!);
    expect(view).toMatchObject({ treatingDoctor: REPLACEMENT, treatingDoctorSetBy: 'first-summary' });
    expect(view.tabs.summary.every((d) => d.writtenAs === null)).toBe(true);
  });
});
