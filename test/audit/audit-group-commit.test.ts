import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AuditTrail } from '../../src/audit/audit-trail.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { tempDir } from '../helpers/gateway.js';

/** SqliteAuditRepo appends the records asked for in one event-loop turn in one transaction. */
describe('audit trail group commit (SQLite)', () => {
  let dir: string;
  let file: string;
  let store: SqliteStore;
  let audit: AuditTrail;
  beforeEach(async () => {
    dir = tempDir();
    file = path.join(dir, 'm.db');
    store = SqliteStore.open(file);
    await store.migrate();
    audit = new AuditTrail(store.audit);
  });
  afterEach(async () => {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('chains records asked for together in the order they were asked for, committed when each promise resolves', async () => {
    await audit.record({ actor: 'system', action: 'first', outcome: 'ok' });
    const records = await Promise.all(Array.from({ length: 20 }, (_, i) => audit.record({ actor: 'system', action: `batch${i}`, outcome: 'ok' })));
    expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    records.forEach((r, i) => expect(r.action).toBe(`batch${i}`));
    // Another connection sees every record: they were committed, not just built.
    const reader = SqliteStore.open(file);
    try {
      expect(await reader.audit.count()).toBe(21);
    } finally {
      await reader.close();
    }
    expect(await audit.verify()).toMatchObject({ ok: true, records: 21 });
  });

  it('a record that cannot be built fails alone; the others of its batch are kept and the chain stays whole', async () => {
    const ok = (action: string) => audit.record({ actor: 'system', action, outcome: 'ok' });
    const bad = store.audit.append(() => { throw new Error('builder failed'); });
    const results = await Promise.allSettled([ok('a'), bad, ok('b')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await audit.list()).map((r) => r.action)).toEqual(['a', 'b']);
    expect(await audit.verify()).toMatchObject({ ok: true, records: 2 });
  });
});
