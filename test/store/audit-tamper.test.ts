/**
 * The audit trail against someone with access to the database itself (moved here from the
 * foundation end-to-end test, which no longer opens the database file; run on both stores). The
 * database refuses edits and deletions while its guard stands; an attacker who drops the guard
 * and edits a record is named by `medgate audit verify`, the operator's command, at the first
 * record altered.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/gateway.js';
import { describeOnStores, prepareGatewayData, type PreparedGateway } from '../helpers/in-process-gateway.js';

describeOnStores('audit trail against raw database access', (kind) => {
  let p: PreparedGateway;
  /** Runs SQL on the gateway's database as someone with file or superuser access would. */
  const raw = async (sql: string): Promise<void> => {
    if (kind === 'sqlite') {
      const db = new Database(path.resolve(p.config.dataDir, p.config.store.sqlite.file));
      try { db.exec(sql); } finally { db.close(); }
      return;
    }
    const c = new pg.Client({ connectionString: p.config.store.postgres!.url });
    await c.connect();
    try { await c.query(sql); } finally { await c.end(); }
  };

  beforeAll(async () => {
    // `medgate init` through its service, and a few records as the operator's commands write them.
    p = await prepareGatewayData({ store: kind, directory: false, whitelist: false });
    for (let i = 0; i < 4; i++) await p.ctx.audit.record({ actor: 'operator', action: `test.${i}`, outcome: 'ok' });
    await p.closeContext();
  }, 60_000);
  afterAll(async () => { await p?.dispose(); });

  it('the database refuses edits and deletions of audit records while its guard stands', async () => {
    await expect(raw('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(raw("UPDATE audit_log SET outcome = 'refused' WHERE seq = 3")).rejects.toThrow(/append-only/);
  });

  it('audit verify names the first record someone altered after dropping the guard', async () => {
    await raw(kind === 'sqlite' ? 'DROP TRIGGER audit_log_no_update' : 'DROP TRIGGER audit_log_no_update ON audit_log');
    await raw("UPDATE audit_log SET outcome = 'refused' WHERE seq = 3");
    const broken = await runCli(['audit', 'verify', '--config', p.configFile]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/broken at record 3: record 3 was altered/);
  }, 60_000);
});
