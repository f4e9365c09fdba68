import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditTrail, GENESIS_HASH, hashRecord } from '../../src/audit/audit-trail.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/gateway.js';

describe('audit trail', () => {
  let dir: string;
  let store: SqliteStore;
  let audit: AuditTrail;
  beforeEach(async () => {
    dir = tempDir();
    store = SqliteStore.open(path.join(dir, 'm.db'));
    await store.migrate();
    audit = new AuditTrail(store.audit);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('chains each record to the previous one', async () => {
    const a = await audit.record({ actor: 'operator', action: 'x', outcome: 'ok', details: { b: 1, a: 2 } });
    const b = await audit.record({ actor: 'operator', action: 'y', outcome: 'refused', messageId: '<m@x>' });
    expect(a.seq).toBe(1);
    expect(a.prevHash).toBe(GENESIS_HASH);
    expect(b.prevHash).toBe(a.hash);
    expect(hashRecord(b)).toBe(b.hash);
    // Key order does not change the hash (canonical JSON).
    expect(hashRecord({ ...a, details: { a: 2, b: 1 } })).toBe(a.hash);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 2, headHash: b.hash });
  });

  it('detects an altered, a deleted and a re-linked record, naming the first broken one', async () => {
    for (let i = 0; i < 6; i++) await audit.record({ actor: 'system', action: `a${i}`, outcome: 'ok' });
    store.db.exec('DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;');
    store.db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = 4").run();
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 4 });
    // Recompute record 4's own hash: the next record no longer links to it.
    const r4 = (await audit.list(4, 1))[0]!;
    store.db.prepare('UPDATE audit_log SET hash = ? WHERE seq = 4').run(hashRecord(r4));
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 5, reason: expect.stringMatching(/does not link/) });
    store.db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    expect(await audit.verify()).toMatchObject({ ok: false, brokenAt: 2, reason: expect.stringMatching(/missing/) });
  });

  it('keeps one chain when many records are written concurrently', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => audit.record({ actor: 'system', action: `c${i}`, outcome: 'ok' })));
    expect(await audit.verify()).toMatchObject({ ok: true, records: 50 });
  });
});
