import type { NewQueueItem } from '../types.js';
import { BLOB_UPSERT, byteaArray } from './blob-chunks.js';

/** One row per placement of the statement, in the order given (`ord` from 1). */
export interface PlacementRow {
  ord: number;
  /** Null: the mailbox does not exist (yet). */
  mailbox_id: number | null;
  owner: string | null;
  name: string | null;
  /** The UID given to the new message; null for a duplicate delivery key. */
  new_uid: number | null;
  /** The UID of the message already placed with this delivery key (seen before our lock). */
  dup_uid: number | null;
  /** The mailbox's recent watermark before this statement (locked, so exact): Placement.claimRecent. */
  recent_before: number | null;
}

export interface PlacementInput {
  /** Distinct mailboxes (owner lower-cased, name canonical). */
  placements: Array<{ owner: string; name: string; flags: string; key: string; meta?: string | null; recent?: boolean }>;
  blobId: string;
  size: number;
  now: string;
  internalDate: string;
  /** The sealed bytes in chunks: the blob row and its chunks are written by this statement too. */
  chunks?: Buffer[] | undefined;
  queue?: NewQueueItem | undefined;
  /**
   * All or nothing: when a mailbox does not exist, the statement writes nothing at all (no blob, no
   * queue item, no placement) and its rows say which mailbox is missing. Then the statement can run
   * on its own, outside BEGIN/COMMIT: one statement is one transaction.
   */
  allOrNothing?: boolean;
}

/**
 * The message path in one statement: blob (+ chunks), queue item (+ recipients) and placements.
 *
 * Placements: `mb` locks the mailbox rows in one fixed order (owner, name), and returns their
 * latest version (READ COMMITTED re-reads a row it waited for), so `uid_next` and `highest_modseq`
 * are never stale: never a reused UID. A delivery key already placed is skipped (`dup`, or the
 * unique index through ON CONFLICT when another node placed it between our snapshot and our lock).
 * Foreign keys are checked at the end of the statement, so rows inserted by earlier CTEs count.
 */
export function placementStatement(input: PlacementInput): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const $ = (v: unknown, cast = ''): string => { params.push(v); return `$${params.length}${cast}`; };
  const ctes: string[] = [];
  const ps = input.placements;
  // The mailboxes first: the guard below, and the writes after it, refer to `mb`.
  if (ps.length) {
    ctes.push(`p AS (SELECT * FROM unnest(${$(ps.map((p) => p.owner), '::text[]')}, ${$(ps.map((p) => p.name), '::text[]')},
      ${$(ps.map((p) => p.key), '::text[]')}, ${$(ps.map((p) => p.flags), '::text[]')}, ${$(ps.map((p) => p.meta ?? null), '::text[]')},
      ${$(ps.map((p) => !!p.recent), '::boolean[]')})
      WITH ORDINALITY AS p(owner, name, dkey, flags, meta, recent, ord))`);
    ctes.push(`mb AS MATERIALIZED (SELECT m.id, m.owner, m.name, m.uid_next, m.highest_modseq, m.recent_uid FROM mailboxes m
      WHERE (m.owner, m.name) IN (SELECT owner, name FROM p) ORDER BY m.owner COLLATE "C", m.name COLLATE "C" FOR NO KEY UPDATE)`);
  }
  // Every mailbox found (and locked, in `mb`), or nothing is written.
  const guard = input.allOrNothing && ps.length ? `(SELECT count(*) FROM mb) = ${ps.length}` : 'true';
  const blobId = $(input.blobId, '::text');
  if (input.chunks) {
    const upsert = BLOB_UPSERT.replace('$1', blobId).replace('$2', $(input.size, '::bigint')).replace('$3', $(input.chunks.length, '::int')).replace('$4', $(input.now, '::text'))
      .replace(/VALUES \((\$\d+::text, \$\d+::bigint, \$\d+::int, \$\d+::text)\)/, `SELECT $1 WHERE ${guard}`);
    ctes.push(`b AS (${upsert})`);
    ctes.push(`bc AS (INSERT INTO blob_chunks (blob_id, seq, data) SELECT ${blobId}, c.ord - 1, c.data
      FROM b, unnest(${byteaArray(input.chunks, $)}) WITH ORDINALITY AS c(data, ord) WHERE b.inserted)`);
  }
  const q = input.queue;
  if (q) {
    ctes.push(`qi AS (INSERT INTO queue_items (id, blob_id, envelope_from, message_id, created_at, expires_at, ret, envid)
      SELECT ${$(q.id, '::text')}, ${blobId}, ${$(q.envelopeFrom, '::text')}, ${$(q.messageId, '::text')}, ${$(input.now, '::text')},
        ${$(q.expiresAt, '::text')}, ${$(q.ret, '::text')}, ${$(q.envid, '::text')} WHERE ${guard} ON CONFLICT (id) DO NOTHING RETURNING id)`);
    const now = $(input.now, '::text');
    ctes.push(`qr AS (INSERT INTO queue_recipients (queue_id, recipient, notify, orcpt, status, attempts, next_attempt_at, last_error, delay_notified, updated_at)
      SELECT qi.id, r.recipient, r.notify, r.orcpt, 'pending', 0, ${now}, NULL, false, ${now}
      FROM qi, unnest(${$(q.recipients.map((r) => r.recipient.toLowerCase()), '::text[]')}, ${$(q.recipients.map((r) => (r.notify ? r.notify.join(',') : null)), '::text[]')},
        ${$(q.recipients.map((r) => r.orcpt), '::text[]')}) AS r(recipient, notify, orcpt))`);
  }
  let select = `SELECT ${input.chunks ? '(SELECT inserted FROM b)' : 'NULL'} AS blob_inserted`;
  if (ps.length) {
    ctes.push(`dup AS MATERIALIZED (SELECT p.ord, x.uid FROM p JOIN mb ON mb.owner = p.owner AND mb.name = p.name
      JOIN messages x ON x.mailbox_id = mb.id AND x.delivery_key = p.dkey)`);
    ctes.push(`ins AS (INSERT INTO messages (mailbox_id, uid, blob_id, flags, internal_date, sealed_size, modseq, delivery_key)
      SELECT mb.id, mb.uid_next, ${blobId}, p.flags, ${$(input.internalDate, '::text')}, ${$(input.size, '::bigint')}, mb.highest_modseq + 1, p.dkey
      FROM p JOIN mb ON mb.owner = p.owner AND mb.name = p.name WHERE ${guard} AND NOT EXISTS (SELECT 1 FROM dup WHERE dup.ord = p.ord)
      ON CONFLICT (mailbox_id, delivery_key) DO NOTHING RETURNING mailbox_id, uid, modseq)`);
    // A placement with `recent` (Placement.claimRecent) raises the recent watermark in the same statement.
    ctes.push(`up AS (UPDATE mailboxes m SET uid_next = ins.uid + 1, highest_modseq = ins.modseq,
        recent_uid = CASE WHEN p.recent THEN GREATEST(m.recent_uid, ins.uid) ELSE m.recent_uid END
      FROM ins JOIN mb ON mb.id = ins.mailbox_id JOIN p ON p.owner = mb.owner AND p.name = mb.name WHERE m.id = ins.mailbox_id)`);
    // The owners' metadata entries (Placement.meta) in the same statement, so the same transaction:
    // one per owner (ON CONFLICT may not touch a row twice in one statement).
    if (ps.some((p) => p.meta != null)) {
      ctes.push(`mm AS (INSERT INTO message_meta (owner, blob_id, data)
        SELECT DISTINCT ON (p.owner) p.owner, ${blobId}, p.meta FROM p JOIN mb ON mb.owner = p.owner AND mb.name = p.name
        WHERE ${guard} AND p.meta IS NOT NULL ORDER BY p.owner, p.ord
        ON CONFLICT (owner, blob_id) DO UPDATE SET data = excluded.data)`);
    }
    select = `SELECT p.ord::int AS ord, mb.id AS mailbox_id, mb.owner, mb.name, ins.uid AS new_uid, dup.uid AS dup_uid, mb.recent_uid AS recent_before
      FROM p LEFT JOIN mb ON mb.owner = p.owner AND mb.name = p.name LEFT JOIN ins ON ins.mailbox_id = mb.id LEFT JOIN dup ON dup.ord = p.ord
      ORDER BY p.ord`;
  }
  return { sql: `${ctes.length ? 'WITH ' + ctes.join(',\n') : ''}\n${select}`, params };
}
