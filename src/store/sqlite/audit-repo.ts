import type Database from 'better-sqlite3';
import type { AuditRecord, AuditRepo } from '../types.js';

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  outcome: string;
  message_id: string | null;
  details: string;
  prev_hash: string;
  hash: string;
}

function fromRow(r: AuditRow): AuditRecord {
  return {
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    action: r.action,
    outcome: r.outcome as AuditRecord['outcome'],
    messageId: r.message_id,
    details: JSON.parse(r.details) as Record<string, unknown>,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

type Build = (prev: { seq: number; hash: string } | undefined) => AuditRecord;

interface PendingAppend {
  build: Build;
  resolve: (r: AuditRecord) => void;
  reject: (err: unknown) => void;
}

// Captured at load: the flush must run even where a test fakes the timers later.
const defer = globalThis.setImmediate;

export class SqliteAuditRepo implements AuditRepo {
  private pending: PendingAppend[] = [];

  constructor(private readonly db: Database.Database) {}

  /**
   * Group commit: the records asked for during one turn of the event loop are appended in ONE
   * transaction (one fsync instead of one each), in the order they were asked for, each chained to
   * the one before exactly as if appended alone. Each promise resolves only once its record is
   * durably committed, as before.
   */
  append(build: Build): Promise<AuditRecord> {
    return new Promise((resolve, reject) => {
      if (this.pending.push({ build, resolve, reject }) === 1) defer(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    let records: AuditRecord[];
    try {
      records = this.appendAll(batch.map((p) => p.build));
    } catch (err) {
      if (batch.length === 1) return batch[0]!.reject(err);
      // One failing record must not take the others down with it: append them one by one.
      for (const p of batch) {
        try {
          p.resolve(this.appendAll([p.build])[0]!);
        } catch (e) {
          p.reject(e);
        }
      }
      return;
    }
    batch.forEach((p, i) => p.resolve(records[i]!));
  }

  private appendAll(builds: Build[]): AuditRecord[] {
    // IMMEDIATE takes the write lock before reading the chain head: no two writers fork it.
    const tx = this.db.transaction(() => {
      let prev = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as
        | { seq: number; hash: string }
        | undefined;
      const insert = this.db.prepare(`INSERT INTO audit_log (seq, at, actor, action, outcome, message_id, details, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      return builds.map((build) => {
        const rec = build(prev);
        insert.run(rec.seq, rec.at, rec.actor, rec.action, rec.outcome, rec.messageId, JSON.stringify(rec.details), rec.prevHash, rec.hash);
        prev = { seq: rec.seq, hash: rec.hash };
        return rec;
      });
    });
    return tx.immediate();
  }

  async list(from = 1, limit = 1000): Promise<AuditRecord[]> {
    const rows = this.db.prepare('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?').all(from, limit) as AuditRow[];
    return rows.map(fromRow);
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;
  }
}
