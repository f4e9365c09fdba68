/**
 * Sealed messages this node committed a moment ago, kept in memory for a short while: the queue
 * worker relays most of them within the second, and a recipient's IMAP session often reads a new
 * message at once. Reading them back from PostgreSQL costs a round trip, the server's read and its
 * hex encoding, and the driver's decoding of twice the bytes (node-postgres reads bytea as text).
 *
 * Always correct across nodes: a blob's id is the SHA-256 of its bytes, so the bytes of an id never
 * change. Bounded in bytes and in age; only messages committed from memory (small ones) go in.
 */
export class RecentBlobs {
  private readonly entries = new Map<string, { data: Buffer; at: number }>();
  private bytes = 0;

  constructor(private readonly maxBytes = 32 * 1024 * 1024, private readonly maxAgeMs = 60_000) {}

  put(blobId: string, data: Buffer): void {
    if (data.length > this.maxBytes / 8 || this.entries.has(blobId)) return;
    // A slice of a larger pooled buffer would keep all of it alive.
    const own = data.byteLength === data.buffer.byteLength ? data : Buffer.from(data);
    this.entries.set(blobId, { data: own, at: Date.now() });
    this.bytes += own.length;
    this.trim();
  }

  get(blobId: string): Buffer | undefined {
    this.trim();
    return this.entries.get(blobId)?.data;
  }

  private trim(): void {
    const oldest = Date.now() - this.maxAgeMs;
    for (const [id, e] of this.entries) {
      if (this.bytes <= this.maxBytes && e.at >= oldest) break; // in insertion order: the rest are newer
      this.entries.delete(id);
      this.bytes -= e.data.length;
    }
  }
}
