import { MedgateError } from '../../errors.js';
import type { AuditBuild as Build, AuditRecord, AuditRepo } from '../types.js';
import { auditFrom, type AuditRow } from '../rows/audit-row.js';
import type { PgDatabase } from './pg-database.js';

type Head = { seq: number; hash: string } | undefined;
interface Pending { build: Build; resolve: (r: AuditRecord) => void; reject: (err: unknown) => void }

/** Attempts before giving up when other nodes keep appending first (each attempt re-reads the head). */
const MAX_ATTEMPTS = 100;
const defer = globalThis.setImmediate;

/**
 * One chain whichever node writes. `seq` is the primary key and a record is always written as
 * `head.seq + 1` chained to `head.hash`, so two nodes can never both append after the same record:
 * the second INSERT fails on the key, re-reads the head and rebuilds. The records asked for in one
 * turn of the event loop go in one multi-row INSERT (one round trip; the head is cached between
 * batches, so a node appending alone never reads it back).
 */
export class PgAuditRepo implements AuditRepo {
  private pending: Pending[] = [];
  private head: Head | null = null; // null: not known, read it
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly db: PgDatabase) {}

  append(build: Build): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      if (this.pending.push({ build, resolve, reject }) === 1) {
        defer(() => { this.running = this.running.then(() => this.flush()); });
      }
    });
  }

  private async readHead(): Promise<Head> {
    const r = await this.db.one<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
    return r ? { seq: r.seq, hash: r.hash } : undefined;
  }

  private async flush(): Promise<void> {
    let batch = this.pending;
    this.pending = [];
    for (let attempt = 1; batch.length; attempt++) {
      try {
        if (this.head === null) this.head = await this.readHead();
        let prev = this.head;
        const built: Array<{ p: Pending; rec: AuditRecord }> = [];
        const failed: Array<{ p: Pending; err: unknown }> = [];
        for (const p of batch) {
          try {
            const rec = p.build(prev);
            built.push({ p, rec });
            prev = { seq: rec.seq, hash: rec.hash };
          } catch (err) {
            failed.push({ p, err }); // fails alone; the others chain as if it had not been asked for
          }
        }
        for (const f of failed) f.p.reject(f.err);
        batch = built.map((b) => b.p);
        if (!built.length) return;
        const recs = built.map((b) => b.rec);
        await this.db.query(`INSERT INTO audit_log (seq, at, actor, action, outcome, message_id, details, prev_hash, hash)
          SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])`, [
          recs.map((r) => r.seq), recs.map((r) => r.at), recs.map((r) => r.actor), recs.map((r) => r.action), recs.map((r) => r.outcome),
          recs.map((r) => r.messageId), recs.map((r) => JSON.stringify(r.details)), recs.map((r) => r.prevHash), recs.map((r) => r.hash),
        ]);
        this.head = prev;
        built.forEach((b) => b.p.resolve(b.rec));
        return;
      } catch (err) {
        this.head = null;
        // Another node appended after our head: rebuild on the new one.
        if ((err as { code?: unknown }).code === '23505' && attempt < MAX_ATTEMPTS) continue;
        const final = (err as { code?: unknown }).code === '23505'
          ? new MedgateError('AUDIT_APPEND_CONTENDED', 'the audit chain head kept moving; the record was not written')
          : err;
        for (const p of batch) p.reject(final);
        return;
      }
    }
  }

  async list(from = 1, limit = 1000): Promise<AuditRecord[]> {
    return (await this.db.rows<AuditRow>('SELECT * FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2', [from, limit])).map(auditFrom);
  }

  async count(): Promise<number> {
    return (await this.db.one<{ n: number }>('SELECT COUNT(*) AS n FROM audit_log'))?.n ?? 0;
  }
}
