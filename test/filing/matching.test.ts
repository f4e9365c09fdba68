import { afterEach, beforeEach, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { blobId, DUPONT, filingFixture, messageId, routing, VERIFIED, type FilingFixture } from './helpers.js';

const INS = { value: '159017512345678', oid: '1.2.250.1.213.1.4.8' };

describeOnStores('filing store: matching, tabs, supersede, reconciliation', (store) => {
  let fx: FilingFixture;
  beforeEach(async () => { fx = await filingFixture(store); });
  afterEach(async () => { await fx.close(); });

  const ingest = (r: ReturnType<typeof routing>, mid = messageId()) => fx.filing.ingest(r, VERIFIED, blobId(), mid);

  it('matches on exact normalised traits (accents, case, hyphens) and files one document per part under its tab', async () => {
    const first = await ingest(routing({ type: 'biology', documents: [{ part: 'body', type: 'biology' }, { part: 'resultat.pdf', type: 'biology' }, { part: 'cr.hpr', type: 'other' }] }));
    expect(first.outcome).toBe('new');
    expect(first.documentIds).toHaveLength(3);
    const second = await ingest(routing({ patient: { ...DUPONT, familyName: 'Dupont', givenName: 'JEAN' }, type: 'hospital-report' }));
    expect(second.outcome).toBe('matched');
    expect(second.patientId).toBe(first.patientId);
    const view = await fx.filing.show(first.patientId!);
    expect(view.tabs.biology).toHaveLength(2);
    expect(view.tabs.other).toHaveLength(1);
    expect(view.tabs.reports).toHaveLength(1);
    expect(view.identity.familyName).toBe('DUPONT');
    expect(view.accessCode).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  });

  it('is idempotent per (message, part)', async () => {
    const mid = messageId();
    const r = routing({ documents: [{ part: 'body', type: 'letter' }, { part: 'a.pdf', type: 'letter' }] });
    const a = await ingest(r, mid);
    const b = await ingest(r, mid);
    expect(a.documentIds).toHaveLength(2);
    expect(b.outcome).toBe('duplicate');
    expect((await fx.filing.show(a.patientId!)).tabs.letters).toHaveLength(2);
  });

  it('matches on INS first, even when a name is spelt differently, and gives an INS to a patient matched by traits', async () => {
    const byTraits = await ingest(routing());
    const withIns = await ingest(routing({ patient: { ...DUPONT, ins: INS } }));
    expect(withIns.outcome).toBe('matched');
    expect(withIns.patientId).toBe(byTraits.patientId);
    expect((await fx.filing.show(byTraits.patientId!)).identity.ins).toEqual(INS);
    // Same INS, same traits → matched through the INS.
    const again = await ingest(routing({ patient: { ...DUPONT, familyName: 'dupont', ins: INS } }));
    expect(again.outcome).toBe('matched');
  });

  it('sends doubt to reconciliation and never merges: same INS other traits, same name+birth date other given name', async () => {
    const base = await ingest(routing({ patient: { ...DUPONT, ins: INS } }));
    const insOther = await ingest(routing({ patient: { ...DUPONT, givenName: 'Pierre', ins: INS } }));
    expect(insOther.outcome).toBe('reconcile');
    expect(insOther.reason).toBe('ins-traits-differ');
    expect(insOther.patientId).not.toBe(base.patientId);
    const given = await ingest(routing({ patient: { familyName: 'DUPONT', givenName: 'Jeanne', birthDate: '1959-01-30' } }));
    expect(given.outcome).toBe('reconcile');
    expect(given.reason).toBe('given-name-differs');
    const open = await fx.filing.listReconcile();
    expect(open.map((r) => r.reason).sort()).toEqual(['given-name-differs', 'ins-traits-differ']);
    // A second item for the uncertain patient joins it, still pending.
    const same = await ingest(routing({ patient: { familyName: 'DUPONT', givenName: 'Jeanne', birthDate: '1959-01-30' } }));
    expect(same.outcome).toBe('matched');
    expect(same.patientId).toBe(given.patientId);
    // Operator decisions.
    const merged = await fx.filing.merge(open.find((r) => r.reason === 'given-name-differs')!.id);
    expect(merged).toEqual({ patientId: base.patientId, moved: 2 });
    expect((await fx.filing.show(base.patientId!)).tabs.letters).toHaveLength(3);
    // After a merge, the variant matches the merged-into patient directly.
    const later = await ingest(routing({ patient: { familyName: 'DUPONT', givenName: 'Jeanne', birthDate: '1959-01-30' } }));
    expect(later).toMatchObject({ outcome: 'matched', patientId: base.patientId });
    await fx.filing.separate(open.find((r) => r.reason === 'ins-traits-differ')!.id);
    expect((await fx.filing.listReconcile()).length).toBe(0);
    await expect(fx.filing.separate(open[0]!.id)).rejects.toThrow(/already/);
  });

  it('keeps a second patient with the same names and another birth date separate (no reconciliation)', async () => {
    const a = await ingest(routing());
    const b = await ingest(routing({ patient: { ...DUPONT, birthDate: '1961-07-14' } }));
    expect(b.outcome).toBe('new');
    expect(b.patientId).not.toBe(a.patientId);
    expect(await fx.filing.listReconcile()).toHaveLength(0);
  });

  it('an item without patient waits in reconciliation and can be merged into a patient', async () => {
    const p = await ingest(routing());
    const none = await ingest(routing({ patient: null }));
    expect(none).toMatchObject({ outcome: 'unidentified', patientId: null, reason: 'no-patient' });
    const merged = await fx.filing.merge(none.reconcileId!, p.patientId!);
    expect(merged.moved).toBe(1);
    expect((await fx.filing.show(p.patientId!)).tabs.letters).toHaveLength(2);
  });

  it('a newer summary from the treating doctor supersedes the previous one; history kept; another doctor does not', async () => {
    const gp = 'paul.demo@cabinet-antony.medgate.test';
    const s1 = await ingest(routing({ type: 'summary', date: '2024-01-10', sender: gp }));
    const s2 = await ingest(routing({ type: 'summary', date: '2024-03-10', sender: gp }));
    const other = await ingest(routing({ type: 'summary', date: '2024-02-01', sender: 'claire.martin@cardio-sceaux.medgate.test', role: 'specialist' }));
    const late = await ingest(routing({ type: 'summary', date: '2023-12-01', sender: gp }));
    const view = await fx.filing.show(s1.patientId!);
    const byId = new Map(view.tabs.summary.map((d) => [d.id, d]));
    expect(view.tabs.summary).toHaveLength(4);
    expect(byId.get(s1.documentIds[0]!)!.supersededBy).toBe(s2.documentIds[0]);
    expect(byId.get(s2.documentIds[0]!)!.supersededBy).toBeNull();
    expect(byId.get(other.documentIds[0]!)!.supersededBy).toBeNull();
    expect(byId.get(late.documentIds[0]!)!.supersededBy).toBe(s2.documentIds[0]);
    expect(view.treatingDoctor).toBe(gp);
    // A replacement's newer summary is filed beside it: it takes neither the treating doctor nor the history (issue 30).
    const replacement = await ingest(routing({ type: 'summary', date: '2024-06-01', sender: 'jl.letest@cabinet-antony.medgate.test' }));
    const after = await fx.filing.show(s1.patientId!);
    expect(after.treatingDoctor).toBe(gp);
    expect(after.tabs.summary.find((d) => d.id === s2.documentIds[0])!.supersededBy).toBeNull();
    expect(after.tabs.summary.find((d) => d.id === replacement.documentIds[0])!.supersededBy).toBeNull();
  });

  it('finds patients by accent-insensitive first letters through keyed hashes; no names in clear in the store (SQLite file and WAL, or every PostgreSQL row)', async () => {
    await ingest(routing({ patient: { familyName: 'DUPONT-MARTIN', givenName: 'Éloïse', birthDate: '1980-02-03' }, title: 'Compte rendu DUPONT-MARTIN Éloïse' }));
    await ingest(routing({ patient: { familyName: 'Dupré', givenName: 'Zoé', birthDate: '1990-10-11' } }));
    await ingest(routing({ patient: { familyName: 'MARTIN', givenName: 'Luc', birthDate: '1970-01-01', ins: INS } }));
    const dup = await fx.filing.search('dup');
    expect(dup.map((p) => p.identity.familyName).sort()).toEqual(['DUPONT-MARTIN', 'Dupré']);
    expect((await fx.filing.search('DUPRE')).map((p) => p.identity.givenName)).toEqual(['Zoé']);
    expect((await fx.filing.search('mar')).map((p) => p.identity.familyName).sort()).toEqual(['DUPONT-MARTIN', 'MARTIN']);
    expect(await fx.filing.search('x')).toEqual([]);
    const contents = await fx.rawContents();
    expect(contents.length).toBeGreaterThan(0);
    for (const bytes of contents) {
      // Needles long enough not to occur by chance in base64 ciphertext.
      for (const needle of ['DUPONT', 'Dupont', 'Dupré', 'DUPRE', 'MARTIN', 'Éloïse', 'ELOISE', 'Zoé', '1980-02-03', '1990-10-11', '159017512345678']) {
        expect(bytes.includes(Buffer.from(needle, 'utf8')), `${needle} in the ${fx.kind} store`).toBe(false);
      }
    }
    // The rows really are in these files (the check above is not vacuous).
    const all = contents.map((b) => b.toString('latin1')).join('');
    expect(all.includes(dup[0]!.id)).toBe(true);
  });
});
