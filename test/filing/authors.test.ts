/**
 * Author and transmitter (issue 30): the rights matrix judges a document's author. Judged against a
 * real directory (SQLite store), as the submission check, the relay check and filing do.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeOnStores } from '../helpers/stores.js';
import { authorMark, firstRefusal, judgeDocuments, type AuthorsConfig } from '../../src/filing/index.js';
import type { DirectoryEntry } from '../../src/store/types.js';
import { filingFixture, type FilingFixture } from './helpers.js';

const entry = (address: string, nationalId: string, family: string, specialtyCode: string, specialtyLabel: string): DirectoryEntry => ({
  address, mailboxType: 'PER', idType: 'RPPS', idValue: nationalId.slice(1), nationalId, civility: 'DR', familyName: family, givenName: 'Test',
  professionCode: '10', professionLabel: 'Médecin', specialtyCode, specialtyLabel, organisation: null, status: 'active',
  certificatePem: null, pgpPublicKey: null, source: 'ans', updatedAt: new Date().toISOString(),
});

const GP = entry('paul.demo@cabinet-antony.medgate.test', '810100000017', 'DEMO', 'SM54', 'Médecine générale');
const BIO = entry('anne.biologiste@labo-biotest.medgate.test', '810100000033', 'BIOLOGISTE', 'SM05', 'Biologie médicale');
const CARDIO = entry('claire.martin@cardio-sceaux.medgate.test', '810100000025', 'MARTIN', 'SM04', 'Cardiologie et maladies vasculaires');
const CONFIG: AuthorsConfig = { hprimLabs: { LABOBIO01: BIO.address } };

describeOnStores('authors and transmitters', (store) => {
  let fx: FilingFixture;
  let dir: { lookup(a: string): Promise<DirectoryEntry | undefined>; find(q: string): Promise<DirectoryEntry[]> };
  beforeAll(async () => {
    fx = await filingFixture(store);
    for (const e of [GP, BIO, CARDIO]) await fx.store.directory.upsert(e);
    dir = { lookup: (a) => fx.store.directory.get(a), find: (q) => fx.store.directory.findByIdentifier(q) };
  });
  afterAll(async () => fx.close());

  it('verified lab of an HPRIM header: filed under the lab, judged as the lab (a GP forwards it)', async () => {
    const judged = await judgeDocuments(GP, [{ part: 'body', type: 'biology', author: { source: 'hprim', id: 'LABOBIO01', name: 'Laboratoire Bio-Test Antony' } }], dir, CONFIG);
    expect(judged[0]!.author).toEqual({ status: 'verified', address: BIO.address, via: 'hprim', name: 'Test BIOLOGISTE' });
    expect(judged[0]!.decision).toEqual({ ok: true, role: 'biologist' });
    expect(firstRefusal(GP, judged, CONFIG).ok).toBe(true);
    expect(authorMark(judged[0]!.author, GP.address)).toBe(`author: Test BIOLOGISTE <${BIO.address}> (verified from the HPRIM header), transmitted by ${GP.address}`);
  });

  it('XDM author in the directory: judged as that author, refused when that author may not author the type', async () => {
    const bio = await judgeDocuments(GP, [{ part: 'Doc01', type: 'biology', author: { source: 'xdm', id: BIO.nationalId!, name: 'Anne BIOLOGISTE' } }], dir, CONFIG);
    expect(bio[0]!.author).toMatchObject({ status: 'verified', address: BIO.address, via: 'xdm' });
    expect(firstRefusal(GP, bio, CONFIG).ok).toBe(true);
    const cardio = await judgeDocuments(GP, [{ part: 'Doc01', type: 'biology', author: { source: 'xdm', id: CARDIO.nationalId! } }], dir, CONFIG);
    const refused = firstRefusal(GP, cardio, CONFIG);
    expect(refused).toMatchObject({ ok: false, role: 'specialist' });
    if (!refused.ok) expect(refused.reason).toMatch(/^a specialist doctor cannot author a biology report in a shared record; forward the laboratory's own report instead/);
  });

  it('no author medgate can verify: filed marked "transmitted by Dr X, author not verified", not refused', async () => {
    const judged = await judgeDocuments(GP, [
      { part: 'resultats.pdf', type: 'biology' },
      { part: 'body', type: 'biology', author: { source: 'hprim', id: 'UNKNOWN01', name: 'Labo inconnu' } },
      { part: 'Doc01', type: 'imaging', author: { source: 'xdm', id: '899999999999' } },
    ], dir, CONFIG);
    expect(judged.map((j) => j.author.status)).toEqual(['unverified', 'unverified', 'unverified']);
    expect(firstRefusal(GP, judged, CONFIG).ok).toBe(true);
    expect(authorMark(judged[0]!.author, GP.address)).toBe(`transmitted by ${GP.address}, author not verified`);
    expect(authorMark(judged[1]!.author, GP.address)).toBe(`transmitted by ${GP.address}, author not verified (names Labo inconnu)`);
  });

  it('what the transmitting doctor wrote himself keeps the check against his own role', async () => {
    const judged = await judgeDocuments(GP, [{ part: 'body', type: 'biology' }, { part: 'ordonnance.pdf', type: 'prescription' }], dir, CONFIG);
    expect(judged.map((j) => j.author.status)).toEqual(['sender', 'sender']);
    const refused = firstRefusal(GP, judged, CONFIG);
    expect(refused).toMatchObject({ ok: false, role: 'general-practitioner' });
    if (!refused.ok) expect(refused.reason).toMatch(/^a general practitioner cannot author a biology report in a shared record; forward the laboratory's own report/);
    // A summary he wrote: his own, accepted.
    expect(firstRefusal(GP, await judgeDocuments(GP, [{ part: 'body', type: 'summary' }], dir, CONFIG), CONFIG).ok).toBe(true);
  });

  it('a forwarded message whose S/MIME signature the sealing gateway verified: its signer, if in this directory, is the author', async () => {
    const bio = await judgeDocuments(GP, [{ part: 'CR.eml', type: 'biology', author: { source: 'smime', id: BIO.address.toUpperCase() } }], dir, CONFIG);
    expect(bio[0]!.author).toEqual({ status: 'verified', address: BIO.address, via: 'smime', name: 'Test BIOLOGISTE' });
    expect(firstRefusal(GP, bio, CONFIG).ok).toBe(true);
    expect(authorMark(bio[0]!.author, GP.address)).toBe(`author: Test BIOLOGISTE <${BIO.address}> (verified from the forwarded message's signature), transmitted by ${GP.address}`);
    // A verified signer without the right is refused as himself.
    expect(firstRefusal(GP, await judgeDocuments(GP, [{ part: 'CR.eml', type: 'biology', author: { source: 'smime', id: CARDIO.address } }], dir, CONFIG), CONFIG)).toMatchObject({ ok: false, role: 'specialist' });
    // A signer this directory does not list, and a forward whose signature did not verify: transmitted, named, not refused.
    const others = await judgeDocuments(GP, [
      { part: 'a.eml', type: 'biology', author: { source: 'smime', id: 'someone@elsewhere.test' } },
      { part: 'b.eml', type: 'consultation-report', author: { source: 'forwarded', name: CARDIO.address } },
    ], dir, CONFIG);
    expect(others.map((j) => j.author)).toEqual([
      { status: 'unverified', via: 'smime', name: 'someone@elsewhere.test' },
      { status: 'unverified', via: 'forwarded', name: CARDIO.address },
    ]);
    expect(firstRefusal(GP, others, CONFIG).ok).toBe(true);
  });

  it('a named author that cannot be verified is never shown as the sender\'s own, even of a type the sender may author', async () => {
    const judged = await judgeDocuments(GP, [
      { part: 'Doc01', type: 'consultation-report', author: { source: 'xdm', id: '899999999999', name: 'Dr Inconnu' } },
      { part: 'Doc02', type: 'consultation-report', author: { source: 'xdm', id: GP.nationalId!, name: 'Paul DEMO' } },
    ], dir, { ...CONFIG });
    expect(judged[0]!.author).toEqual({ status: 'unverified', via: 'xdm', name: 'Dr Inconnu' });
    expect(authorMark(judged[0]!.author, GP.address)).toBe(`transmitted by ${GP.address}, author not verified (names Dr Inconnu)`);
    // His own national id in the metadata: his own document (found in the directory, so verified as himself).
    expect(judged[1]!.author).toMatchObject({ status: 'verified', address: GP.address });
    // An HPRIM header whose lab code is not mapped names no one medgate knows, even sent by a lab (labs
    // forward each other's results): transmitted, the lab it names shown, never the sender's own.
    const lab = await judgeDocuments(BIO, [{ part: 'body', type: 'biology', author: { source: 'hprim', id: 'UNMAPPED', name: 'Labo Inconnu' } }], dir, CONFIG);
    expect(lab[0]!.author).toEqual({ status: 'unverified', via: 'hprim', name: 'Labo Inconnu' });
    expect(authorMark(lab[0]!.author, BIO.address)).toBe(`transmitted by ${BIO.address}, author not verified (names Labo Inconnu)`);
  });
});
