import { expect, it } from 'vitest';
import type { DocumentRow, PatientRow, ReceiptRow } from '../../../src/store/types.js';
import { contract } from './stores.js';

const patient = (id: string, over: Partial<PatientRow> = {}): PatientRow => ({
  id, status: 'active', mergedInto: null, identityEnc: `enc-${id}`, insHash: `ins-${id}`, traitsHash: 'traits', familyBirthHash: 'fb', givenBirthHash: 'gb',
  accessCodeEnc: 'code', createdAt: `2026-01-01T00:00:0${id.length % 10}.000Z`, updatedAt: '2026-01-01T00:00:00.000Z', ...over,
});
const doc = (id: string, messageId: string, part: string, over: Partial<DocumentRow> = {}): Omit<DocumentRow, 'seq'> => ({
  id, patientId: 'p1', messageId, partHash: `h-${part}`, partEnc: `v1:enc-${part}`, type: 'CR', tab: 'reports', date: '2026-02-01', senderAddress: 's@x.test', senderRole: null,
  titleEnc: null, blobId: 'blob', contentDigest: null, verified: true, signerFingerprint: null, authorEnc: null, supersededBy: null, filedAt: '2026-02-01T10:00:00.000Z', ...over,
});
const receipt = (messageId: string): ReceiptRow => ({
  messageId, recordServer: 'rs@x.test', mdnTo: 's@x.test', originalMessageId: '<o@x>', disposition: 'processed', error: null,
  createdAt: '2026-02-01T10:00:00.000Z', sentAt: null,
});

contract('filing store', (h) => {
  it('stores patients, finds them by hash and prefix, hides merged ones unless asked', async () => {
    const { filing } = h().store;
    await filing.insertPatient(patient('p1'), ['pre-a', 'pre-b']);
    await filing.insertPatient(patient('p22'), ['pre-a']);
    expect((await filing.findPatients('traitsHash', 'traits')).map((p) => p.id)).toEqual(['p1', 'p22']);
    expect((await filing.searchByPrefix('pre-b')).map((p) => p.id)).toEqual(['p1']);
    await filing.updatePatient('p22', { status: 'merged', mergedInto: 'p1' }, ['pre-z']);
    expect((await filing.findPatients('traitsHash', 'traits')).map((p) => p.id)).toEqual(['p1']);
    expect((await filing.findPatients('traitsHash', 'traits', true)).map((p) => p.id)).toEqual(['p1', 'p22']);
    expect(await filing.searchByPrefix('pre-a')).toHaveLength(1);
    expect((await filing.listPatients()).map((p) => p.id)).toEqual(['p1']);
    expect(await filing.getPatient('p22')).toMatchObject({ status: 'merged', mergedInto: 'p1', insHash: 'ins-p22' });
  });

  it('inserts documents once per (message, part), with receipts in the same transaction, in seq order', async () => {
    const { filing } = h().store;
    const ids = await filing.insertDocuments([doc('d1', '<m1>', '1'), doc('d2', '<m1>', '2')], [receipt('<m1>')]);
    expect(ids).toEqual(['d1', 'd2']);
    expect(await filing.insertDocuments([doc('d3', '<m1>', '1'), doc('d4', '<m2>', '1', { patientId: null })], [receipt('<m1>')])).toEqual(['d4']);
    const since = await filing.documentsSince(0, 10);
    expect(since.map((d) => d.id)).toEqual(['d1', 'd2', 'd4']);
    expect(since[0]!.seq).toBeLessThan(since[1]!.seq);
    expect((await filing.documentsSince(since[0]!.seq, 1)).map((d) => d.id)).toEqual(['d2']);
    expect((await filing.getDocument('d1'))).toMatchObject({ verified: true, patientId: 'p1', date: '2026-02-01', authorEnc: null });
    // The author of a document its sender only transmitted (issue 30) round-trips as written (sealed by the filing service).
    const authorEnc = 'v1:sealed-author';
    expect(await filing.insertDocuments([doc('d5', '<m5>', 'body', { authorEnc, patientId: 'p5' })])).toEqual(['d5']);
    expect((await filing.getDocument('d5'))!.authorEnc).toBe(authorEnc);
    expect((await filing.documentsSince(0, 10)).find((d) => d.id === 'd5')!.authorEnc).toBe(authorEnc);
    expect((await filing.documentsOfMessage('<m1>')).map((d) => d.id)).toEqual(['d1', 'd2']);
    expect(await filing.moveDocuments({ messageId: '<m2>' }, 'p9')).toBe(1);
    expect(await filing.moveDocuments({ patientId: 'p1' }, 'p9')).toBe(2);
    expect((await filing.documentsOfPatient('p9')).map((d) => d.id)).toEqual(['d1', 'd2', 'd4']);
    await filing.setSupersededBy(['d1'], 'd2');
    expect((await filing.getDocument('d1'))!.supersededBy).toBe('d2');
    expect(await filing.pendingReceipts()).toHaveLength(1);
  });

  it('documentsSince never skips a document when two instances file at once', async () => {
    const { store } = h();
    const other = await h().another();
    const seen: string[] = [];
    let cursor = 0;
    const poll = async (): Promise<void> => {
      for (const d of await store.filing.documentsSince(cursor, 1000)) { seen.push(d.id); cursor = d.seq; }
    };
    const writes = Array.from({ length: 40 }, (_, i) => (i % 2 ? other : store).filing.insertDocuments([doc(`c${i}`, `<c${i}>`, '1')]));
    const polling = (async () => { for (let i = 0; i < 20; i++) { await poll(); await new Promise((r) => setTimeout(r, 5)); } })();
    await Promise.all([...writes, polling]);
    await poll();
    expect(new Set(seen).size).toBe(40);
    expect(seen).toHaveLength(40);
  });

  it('records receipts once, lists pending ones, marks them sent', async () => {
    const { filing } = h().store;
    expect(await filing.insertReceipt(receipt('<r1>'))).toBe(true);
    expect(await filing.insertReceipt({ ...receipt('<r1>'), disposition: 'deleted/error' })).toBe(false);
    expect(await filing.getReceipt('<r1>', 'rs@x.test')).toMatchObject({ disposition: 'processed', sentAt: null });
    await filing.markReceiptSent('<r1>', 'rs@x.test', '2026-02-02T00:00:00.000Z');
    await filing.markReceiptSent('<r1>', 'rs@x.test', '2026-02-03T00:00:00.000Z'); // first one kept
    expect((await filing.getReceipt('<r1>', 'rs@x.test'))!.sentAt).toBe('2026-02-02T00:00:00.000Z');
    expect(await filing.pendingReceipts()).toEqual([]);
  });

  it('keeps reconciliation items and record requests', async () => {
    const { filing } = h().store;
    await filing.insertReconcile({ id: 'r1', patientId: null, candidateId: null, reason: 'no-patient', messageId: '<m>', status: 'open', createdAt: '2026-01-01', resolvedAt: null });
    expect((await filing.listReconcile('open')).map((r) => r.id)).toEqual(['r1']);
    await filing.resolveReconcile('r1', 'separated', '2026-01-02');
    expect(await filing.listReconcile('open')).toEqual([]);
    expect(await filing.getReconcile('r1')).toMatchObject({ status: 'separated', resolvedAt: '2026-01-02' });
    await filing.insertRequest({ id: 'q1', patientId: 'p1', doctor: 'd@x.test', basis: 'emergency', documentId: null, reasonEnc: 'e', outcome: 'sent', at: '2026-01-01' });
    await filing.insertRequest({ id: 'q2', patientId: 'p1', doctor: 'd@x.test', basis: 'treating', documentId: 'd1', reasonEnc: null, outcome: 'viewed', at: '2026-01-02' });
    expect((await filing.listRequests('emergency')).map((r) => r.id)).toEqual(['q1']);
    expect((await filing.listRequests()).map((r) => r.id)).toEqual(['q1', 'q2']);
  });

  it('a blob stays while a filed document refers to it', async () => {
    const { store } = h();
    const res = await store.mail.commit(Buffer.from('filed'), [{ owner: 'rs@x.test', mailbox: 'INBOX', flags: ['\\Deleted'], deliveryKey: 'f' }]);
    await store.filing.insertDocuments([doc('fd', '<f>', '1', { blobId: res.blobId })]);
    const inbox = (await store.mail.getMailbox('rs@x.test', 'INBOX'))!;
    expect(await store.mail.expunge(inbox.id)).toEqual([1]);
    expect(await store.mail.getBlob(res.blobId)).toBeDefined();
  });
});
