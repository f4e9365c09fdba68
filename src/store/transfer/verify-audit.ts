import { AuditTrail } from '../../audit/audit-trail.js';
import { PgStore } from '../postgres/pg-store.js';

/** Verifies the audit chain on a PostgreSQL database through the store itself, as `audit verify` does. */
export async function verifyPostgresAudit(url: string): Promise<{ ok: true; records: number; headHash: string } | { ok: false; reason: string }> {
  const store = await PgStore.open({ url, poolSize: 2, nodeId: 'store-migrate' });
  try {
    const v = await new AuditTrail(store.audit).verify();
    return v.ok ? v : { ok: false, reason: v.reason };
  } finally {
    await store.close();
  }
}
