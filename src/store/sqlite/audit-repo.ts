import type Database from 'better-sqlite3';
import type { AuditBuild as Build, AuditRecord, AuditRepo } from '../types.js';
import { auditFrom, type AuditRow } from '../rows/audit-row.js';
import type { GroupCommit } from './group-commit.js';

export class SqliteAuditRepo implements AuditRepo {
  constructor(private readonly db: Database.Database, private readonly group: GroupCommit) {}

  /**
   * Group commit (GroupCommit): the records asked for during one turn of the event loop are
   * appended in one transaction — with the mail commits of that turn — in the order they were asked
   * for, each chained to the one before exactly as if appended alone. Each promise resolves only
   * once its record is durably committed; one failing record does not take the others down.
   */
  append(build: Build): Promise<AuditRecord> {
    return this.group.run(() => {
      const prev = this.db.prepare('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
      const rec = build(prev);
      this.db.prepare(`INSERT INTO audit_log (seq, at, actor, action, outcome, message_id, details, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(rec.seq, rec.at, rec.actor, rec.action, rec.outcome, rec.messageId, JSON.stringify(rec.details), rec.prevHash, rec.hash);
      return rec;
    });
  }

  async list(from = 1, limit = 1000): Promise<AuditRecord[]> {
    const rows = this.db.prepare('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?').all(from, limit) as AuditRow[];
    return rows.map(auditFrom);
  }

  async count(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM audit_log').get() as { n: number }).n;
  }
}
