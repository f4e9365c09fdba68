/**
 * A defensive ZIP reader for archives received from outside (IHE XDM). The central directory is
 * read by hand so every declared size and name is checked before any byte is inflated; inflation
 * uses fflate's streaming Inflate fed in small chunks, so a member that inflates beyond its declared
 * size is stopped as soon as it crosses it (zip bomb), and the CRC-32 is verified.
 */
import { crc32 } from 'node:zlib';
import { Inflate } from 'fflate';
import { MedgateError } from '../../errors.js';
import { XDM_ARCHIVE_INVALID, XDM_ARCHIVE_TOO_LARGE, XDM_ARCHIVE_UNSAFE } from './errors.js';

export interface ZipLimits {
  maxEntries: number;
  /** Sum of the declared uncompressed sizes of all entries. */
  maxTotalUncompressed: number;
  /** Declared uncompressed size of a single entry. */
  maxEntryUncompressed: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 1000,
  maxTotalUncompressed: 256 * 1024 * 1024,
  maxEntryUncompressed: 64 * 1024 * 1024,
};

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  uncompressedSize: number;
  crc: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const CDH_SIG = 0x02014b50;
const LFH_SIG = 0x04034b50;
/** Input fed to the inflater per step: bounds the output of one step to ~8 MB (DEFLATE ≤ 1032:1). */
const INFLATE_CHUNK = 8 * 1024;

/** Lists the entries of an archive, refusing unsafe names and declared sizes over the limits. */
export function listZipEntries(zip: Uint8Array, limits: ZipLimits = DEFAULT_ZIP_LIMITS): ZipEntry[] {
  try {
    return readCentralDirectory(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength), limits);
  } catch (err) {
    throw asArchiveError(err);
  }
}

/** Inflates one entry; stops as soon as the output exceeds the entry's declared size. */
export function extractZipEntry(zip: Uint8Array, entry: ZipEntry): Buffer {
  try {
    return inflateEntry(Buffer.from(zip.buffer, zip.byteOffset, zip.byteLength), entry);
  } catch (err) {
    throw asArchiveError(err);
  }
}

/** Why a name is unsafe to use as a path, or undefined when it is safe. */
export function unsafeNameReason(name: string): string | undefined {
  if (name.length === 0) return 'empty entry name';
  if (name.includes('\0')) return 'entry name contains NUL';
  if (name.includes('\\')) return 'entry name contains a backslash';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'entry name is an absolute path';
  if (name.split('/').some((seg) => seg === '..')) return 'entry name contains a parent directory segment';
  return undefined;
}

function readCentralDirectory(buf: Buffer, limits: ZipLimits): ZipEntry[] {
  const eocd = findEocd(buf);
  const count = buf.readUInt16LE(eocd + 10);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === 0xffff || cdOffset === 0xffffffff) throw invalid('ZIP64 archives are not supported');
  if (count > limits.maxEntries) {
    throw new MedgateError(XDM_ARCHIVE_TOO_LARGE, 'Archive has too many entries', { count, max: limits.maxEntries });
  }
  const entries: ZipEntry[] = [];
  let total = 0;
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (buf.readUInt32LE(p) !== CDH_SIG) throw invalid('Archive central directory is corrupt');
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const compressedSize = buf.readUInt32LE(p + 20);
    const uncompressedSize = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const localHeaderOffset = buf.readUInt32LE(p + 42);
    if (p + 46 + nameLen > buf.length) throw invalid('Archive central directory is truncated');
    const nameBytes = buf.subarray(p + 46, p + 46 + nameLen);
    // Bit 11: UTF-8 names; otherwise CP437, read as latin1 (enough for the safety checks).
    const name = nameBytes.toString(flags & 0x800 ? 'utf8' : 'latin1');
    const unsafe = unsafeNameReason(name);
    if (unsafe) throw new MedgateError(XDM_ARCHIVE_UNSAFE, `Archive refused: ${unsafe}`, { entry: i });
    if (flags & 0x1) throw new MedgateError(XDM_ARCHIVE_UNSAFE, 'Archive refused: encrypted entry', { entry: i });
    if (uncompressedSize > limits.maxEntryUncompressed) {
      throw new MedgateError(XDM_ARCHIVE_TOO_LARGE, 'Archive entry declares a size over the limit', {
        entry: i,
        declared: uncompressedSize,
        max: limits.maxEntryUncompressed,
      });
    }
    total += uncompressedSize;
    if (total > limits.maxTotalUncompressed) {
      throw new MedgateError(XDM_ARCHIVE_TOO_LARGE, 'Archive declares a total size over the limit', {
        max: limits.maxTotalUncompressed,
      });
    }
    entries.push({ name, method, compressedSize, uncompressedSize, crc, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function findEocd(buf: Buffer): number {
  // The EOCD record is 22 bytes plus a comment of at most 65535 bytes, at the very end.
  const lowest = Math.max(0, buf.length - 22 - 0xffff);
  for (let e = buf.length - 22; e >= lowest; e--) {
    if (buf.readUInt32LE(e) === EOCD_SIG) return e;
  }
  throw invalid('Not a ZIP archive (no end of central directory)');
}

function inflateEntry(buf: Buffer, entry: ZipEntry): Buffer {
  const p = entry.localHeaderOffset;
  if (buf.readUInt32LE(p) !== LFH_SIG) throw invalid('Archive local header is corrupt');
  const start = p + 30 + buf.readUInt16LE(p + 26) + buf.readUInt16LE(p + 28);
  const end = start + entry.compressedSize;
  if (end > buf.length) throw invalid('Archive entry is truncated');
  const data = buf.subarray(start, end);

  let out: Buffer;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize) throw invalid('Stored entry sizes disagree');
    out = Buffer.from(data);
  } else if (entry.method === 8) {
    out = boundedInflate(data, entry.uncompressedSize);
  } else {
    throw invalid('Archive entry uses an unsupported compression method');
  }
  if (out.length !== entry.uncompressedSize) throw invalid('Archive entry size differs from the declared size');
  if (crc32(out) >>> 0 !== entry.crc >>> 0) throw invalid('Archive entry CRC mismatch');
  return out;
}

class InflateLimitExceeded extends Error {}

function boundedInflate(data: Uint8Array, declared: number): Buffer {
  const chunks: Uint8Array[] = [];
  let produced = 0;
  const inflater = new Inflate((chunk) => {
    produced += chunk.length;
    if (produced > declared) throw new InflateLimitExceeded();
    chunks.push(chunk);
  });
  try {
    if (data.length === 0) inflater.push(new Uint8Array(0), true);
    for (let i = 0; i < data.length; i += INFLATE_CHUNK) {
      const last = i + INFLATE_CHUNK >= data.length;
      inflater.push(data.subarray(i, Math.min(i + INFLATE_CHUNK, data.length)), last);
    }
  } catch (err) {
    if (err instanceof InflateLimitExceeded) {
      throw new MedgateError(XDM_ARCHIVE_UNSAFE, 'Archive refused: entry inflates beyond its declared size', {
        declared,
      });
    }
    throw invalid('Archive entry data is corrupt');
  }
  return Buffer.concat(chunks);
}

function invalid(message: string): MedgateError {
  return new MedgateError(XDM_ARCHIVE_INVALID, message);
}

function asArchiveError(err: unknown): MedgateError {
  if (err instanceof MedgateError) return err;
  // Out-of-range reads on a truncated or forged archive land here.
  return new MedgateError(XDM_ARCHIVE_INVALID, 'Archive is corrupt or truncated', undefined, { cause: err });
}
