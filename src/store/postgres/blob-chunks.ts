/**
 * Sealed blobs are stored in PostgreSQL as rows of this many bytes (blob_chunks), written and read
 * one chunk at a time: a 25 MB message never sits whole in memory, and no row is large enough to
 * strain the protocol. The last chunk of a blob is shorter; readers go by `seq`, never by offset.
 */
export const BLOB_CHUNK_BYTES = 256 * 1024;
