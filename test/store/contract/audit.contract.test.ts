import { expect, it } from 'vitest';
import { AuditTrail, GENESIS_HASH, hashRecord } from '../../../src/audit/audit-trail.js';
import { contract } from './stores.js';

contract('audit chain', (h, kind) => {
  it('chains each record to the previous one', async () => {
    const audit = new AuditTrail(h().store.audit);
    const a = await audit.record({ actor: 'operator', action: 'x', outcome: 'ok', details: { b: 1, a: 2 } });
    const b = await audit.record({ actor: 'operator', action: 'y', outcome: 'refused', messageId: '<m@x>' });
    expect(a.seq).toBe(1);
    expect(a.prevHash).toBe(GENESIS_HASH);
    expect(b.prevHash).toBe(a.hash);
    expect(hashRecord(b)).toBe(b.hash);
    expect(hashRecord({ ...a, details: { a: 2, b: 1 } })).toBe(a.hash);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 2, headHash: b.hash });
    expect((await h().store.audit.list(2, 1)).map((r) => r.action)).toEqual(['y']);
    expect((await h().store.audit.list())[1]).toMatchObject({ messageId: '<m@x>', outcome: 'refused' });
    expect(await h().store.audit.count()).toBe(2);
  });

  it('keeps one chain when many records are written concurrently', async () => {
    const audit = new AuditTrail(h().store.audit);
    const records = await Promise.all(Array.from({ length: 50 }, (_, i) => audit.record({ actor: 'system', action: `c${i}`, outcome: 'ok' })));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await audit.verify()).toMatchObject({ ok: true, records: 50 });
  });

  it('a record that cannot be built fails alone; the others are kept and the chain stays whole', async () => {
    const { store } = h();
    const audit = new AuditTrail(store.audit);
    const ok = (action: string) => audit.record({ actor: 'system', action, outcome: 'ok' });
    const bad = store.audit.append(() => { throw new Error('builder failed'); });
    const results = await Promise.allSettled([ok('a'), bad, ok('b')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await audit.list()).map((r) => r.action)).toEqual(['a', 'b']);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 2 });
  });

  // Moved from the foundation end-to-end test, which no longer opens the database file.
  it('the database refuses edits and deletions of audit records while its guard stands', async () => {
    const audit = new AuditTrail(h().store.audit);
    for (let i = 0; i < 3; i++) await audit.record({ actor: 'system', action: `g${i}`, outcome: 'ok' });
    await expect(h().exec('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(h().exec("UPDATE audit_log SET outcome = 'refused' WHERE seq = 2")).rejects.toThrow(/append-only/);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 3 });
  });

  // Restored from the former test/audit/audit-trail.test.ts (SQLite only), now on both stores.
  it('detects an altered, a deleted and a re-linked record, naming the first broken one', async () => {
    const audit = new AuditTrail(h().store.audit);
    for (let i = 0; i < 6; i++) await audit.record({ actor: 'system', action: `a${i}`, outcome: 'ok' });
    await h().exec(kind === 'sqlite'
      ? 'DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;'
      : 'DROP TRIGGER audit_log_no_update ON audit_log;');
    await h().exec("UPDATE audit_log SET actor = 'mallory' WHERE seq = 4");
    // What `medgate audit verify` prints: "audit trail broken at record 4: record 4 was altered".
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 4, reason: expect.stringMatching(/^record 4 was altered/) });
    // Recompute record 4's own hash: the next record no longer links to it.
    const r4 = (await audit.list(4, 1))[0]!;
    await h().exec(`UPDATE audit_log SET hash = '${hashRecord(r4)}' WHERE seq = 4`);
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 5, reason: expect.stringMatching(/does not link/) });
    await h().exec('DELETE FROM audit_log WHERE seq = 2');
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 2, reason: expect.stringMatching(/missing/) });
  });

  it('stays one verifiable chain when two store instances (nodes) append at once', async () => {
    const { store } = h();
    const other = await h().another();
    const trails = [new AuditTrail(store.audit), new AuditTrail(other.audit)];
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 40 }, (_, i) => trails[i % 2]!.record({ actor: `node${i % 2}`, action: `r${round}:${i}`, outcome: 'ok' })));
    }
    expect(await trails[0]!.verify()).toMatchObject({ ok: true, records: 120 });
    expect(await store.audit.count()).toBe(120);
  });
});
