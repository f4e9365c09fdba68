import fs from 'node:fs';
import { Readable } from 'node:stream';
import type { BlobHandle } from '../types.js';
import type { PgDatabase } from './pg-database.js';
import type { Runner } from './runner.js';

/**
 * Sealed bytes in the database, in chunks: written from a file chunk by chunk (a 25 MB message is
 * never in memory whole), read back one chunk per query.
 */
export const CHUNK_BYTES = 256 * 1024;
/** Chunks sent per INSERT when streaming a file in: ~1 MiB per round trip. */
const CHUNKS_PER_INSERT = 4;

export function chunkCount(size: number): number {
  return Math.ceil(size / CHUNK_BYTES);
}

export function splitChunks(data: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; at += CHUNK_BYTES) chunks.push(data.subarray(at, at + CHUNK_BYTES));
  return chunks;
}

/**
 * The blob row, or the existing one locked (DO UPDATE takes its row lock): an expunge collecting
 * the same blob waits for this transaction, so a blob is never deleted under a new reference.
 * Returns whether this call created it (then its chunks are to be written).
 */
export const BLOB_UPSERT = `INSERT INTO blobs (id, size, chunks, created_at) VALUES ($1, $2, $3, $4)
  ON CONFLICT (id) DO UPDATE SET size = blobs.size RETURNING (xmax = 0) AS inserted`;

export async function insertChunksFromFile(c: Runner, blobId: string, file: string): Promise<void> {
  let seq = 0;
  let batch: Buffer[] = [];
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const seqs = batch.map((_, i) => seq + i);
    await c.query('INSERT INTO blob_chunks (blob_id, seq, data) SELECT $1, s, d FROM unnest($2::int[], $3::bytea[]) AS x(s, d)', [blobId, seqs, batch]);
    seq += batch.length;
    batch = [];
  };
  const stream = fs.createReadStream(file, { highWaterMark: CHUNK_BYTES });
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of stream as AsyncIterable<Buffer>) {
    pending.push(piece);
    pendingBytes += piece.length;
    while (pendingBytes >= CHUNK_BYTES) {
      const all = Buffer.concat(pending);
      batch.push(all.subarray(0, CHUNK_BYTES));
      pending = [all.subarray(CHUNK_BYTES)];
      pendingBytes = all.length - CHUNK_BYTES;
      if (batch.length >= CHUNKS_PER_INSERT) await flush();
    }
  }
  if (pendingBytes > 0) batch.push(Buffer.concat(pending));
  await flush();
}

/** A stream that asks for the next chunk only when the reader wants more. */
export function chunkStream(db: PgDatabase, blobId: string, chunks: number, fromSeq = 0): Readable {
  let seq = fromSeq;
  return new Readable({
    read() {
      if (seq >= chunks) { this.push(null); return; }
      const current = seq++;
      db.one<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2', [blobId, current]).then((r) => {
        if (!r) this.destroy(Object.assign(new Error('a chunk of the sealed message is missing'), { code: 'BLOB_CHUNK_MISSING' }));
        else this.push(r.data);
      }, (err: unknown) => this.destroy(err as Error));
    },
  });
}

export async function blobHandle(db: PgDatabase, blobId: string): Promise<BlobHandle | undefined> {
  const row = await db.one<{ size: number; chunks: number }>('SELECT size, chunks FROM blobs WHERE id = $1', [blobId]);
  if (!row) return undefined;
  return {
    size: row.size,
    stream: () => chunkStream(db, blobId, row.chunks),
    head: async (max) => {
      const wanted = Math.min(row.chunks, Math.ceil(max / CHUNK_BYTES));
      if (wanted <= 0) return Buffer.alloc(0);
      const parts = await db.rows<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq < $2 ORDER BY seq', [blobId, wanted]);
      return Buffer.concat(parts.map((p) => p.data)).subarray(0, max);
    },
  };
}

export async function readWhole(db: PgDatabase, blobId: string): Promise<Buffer | undefined> {
  const rows = await db.rows<{ data: Buffer | null }>(`SELECT c.data FROM blobs b LEFT JOIN blob_chunks c ON c.blob_id = b.id
    WHERE b.id = $1 ORDER BY c.seq`, [blobId]);
  if (!rows.length) return undefined;
  return Buffer.concat(rows.flatMap((r) => (r.data ? [r.data] : [])));
}

/**
 * Deletes the blobs no message, queue item or filed document refers to, inside the caller's
 * transaction. The rows are locked first, so a commit or a filing that took the blob's lock has
 * committed its reference before the check reads (READ COMMITTED: a fresh snapshot per statement).
 */
export async function collectBlobs(c: Runner, blobIds: string[]): Promise<void> {
  const ids = [...new Set(blobIds)].sort();
  if (!ids.length) return;
  await c.query('SELECT id FROM blobs WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [ids]);
  await c.query(`DELETE FROM blobs b WHERE b.id = ANY($1::text[])
    AND NOT EXISTS (SELECT 1 FROM messages WHERE blob_id = b.id) AND NOT EXISTS (SELECT 1 FROM queue_items WHERE blob_id = b.id)
    AND NOT EXISTS (SELECT 1 FROM filing_documents WHERE blob_id = b.id)`, [ids]);
}
