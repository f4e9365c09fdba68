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

/**
 * `ARRAY[$n::bytea, …]`, one parameter per chunk. node-postgres sends a Buffer parameter as binary,
 * but a Buffer[] parameter as an array literal of hex text: twice the bytes, hex-encoded here and
 * parsed element by element on the server. Measured on the submission path (bench/store.bench.ts),
 * that literal cost more gateway CPU per message than everything else PostgreSQL adds.
 */
export function byteaArray(chunks: Buffer[], param: (v: unknown, cast?: string) => string): string {
  return chunks.length ? `ARRAY[${chunks.map((c) => param(c, '::bytea')).join(', ')}]` : `ARRAY[]::bytea[]`;
}

export async function insertChunksFromFile(c: Runner, blobId: string, file: string): Promise<void> {
  let seq = 0;
  let batch: Buffer[] = [];
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const params: unknown[] = [blobId, seq];
    const $ = (v: unknown, cast = ''): string => { params.push(v); return `$${params.length}${cast}`; };
    await c.query(`INSERT INTO blob_chunks (blob_id, seq, data) SELECT $1, $2::int + x.ord::int - 1, x.d
      FROM unnest(${byteaArray(batch, $)}) WITH ORDINALITY AS x(d, ord)`, params);
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

/** A stream that asks for the next chunk only when the reader wants more (`first`: chunk 0, already read). */
export function chunkStream(db: PgDatabase, blobId: string, chunks: number, fromSeq = 0, first?: Buffer): Readable {
  let seq = fromSeq;
  return new Readable({
    read() {
      if (seq >= chunks) { this.push(null); return; }
      const current = seq++;
      if (current === 0 && first) { this.push(first); return; }
      db.one<{ data: Buffer }>('SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2', [blobId, current]).then((r) => {
        if (!r) this.destroy(Object.assign(new Error('a chunk of the sealed message is missing'), { code: 'BLOB_CHUNK_MISSING' }));
        else this.push(r.data);
      }, (err: unknown) => this.destroy(err as Error));
    },
  });
}

/**
 * A blob of one chunk (most messages: up to 256 KiB sealed) comes with its bytes in the same round
 * trip: the queue worker asks for the size, then for the bytes (one query instead of two).
 */
export async function blobHandle(db: PgDatabase, blobId: string): Promise<BlobHandle | undefined> {
  const row = await db.one<{ size: number; chunks: number; first: Buffer | null }>(`SELECT b.size, b.chunks,
    CASE WHEN b.chunks = 1 THEN (SELECT c.data FROM blob_chunks c WHERE c.blob_id = b.id AND c.seq = 0) END AS first
    FROM blobs b WHERE b.id = $1`, [blobId]);
  if (!row) return undefined;
  const first = row.first ?? undefined;
  return {
    size: row.size,
    stream: () => chunkStream(db, blobId, row.chunks, 0, first),
    head: async (max) => {
      const wanted = Math.min(row.chunks, Math.ceil(max / CHUNK_BYTES));
      if (wanted <= 0) return Buffer.alloc(0);
      if (first) return first.subarray(0, max);
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
