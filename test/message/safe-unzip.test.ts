import { describe, expect, it } from 'vitest';
import { zipSync, strToU8 } from 'fflate';
import {
  extractZipEntry,
  listZipEntries,
  readXdm,
  XDM_ARCHIVE_INVALID,
  XDM_ARCHIVE_TOO_LARGE,
  XDM_ARCHIVE_UNSAFE,
} from '../../src/message/identity/index.js';
import { MedgateError } from '../../src/errors.js';
import { buildXdmZip, input, METADATA_XML } from './fixtures.js';

/** Rewrites the declared uncompressed size of every entry (local and central headers). */
export function forgeDeclaredSize(zip: Buffer, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let i = 0; i + 4 <= out.length; i++) {
    const sig = out.readUInt32LE(i);
    if (sig === 0x04034b50) out.writeUInt32LE(size, i + 22);
    else if (sig === 0x02014b50) out.writeUInt32LE(size, i + 24);
  }
  return out;
}

/** Renames the (single) entry of a zip to a name of the same byte length. */
function renameEntry(zip: Buffer, from: string, to: string): Buffer {
  expect(Buffer.byteLength(from)).toBe(Buffer.byteLength(to));
  return Buffer.from(zip.toString('latin1').replaceAll(from, Buffer.from(to).toString('latin1')), 'latin1');
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(MedgateError);
    return (err as MedgateError).code;
  }
}

describe('safe unzip', () => {
  it('lists and extracts a normal archive byte-exact', () => {
    const zip = buildXdmZip();
    const entries = listZipEntries(zip);
    expect(entries.map((e) => e.name)).toContain('IHE_XDM/SUBSET01/METADATA.XML');
    const meta = entries.find((e) => e.name.endsWith('METADATA.XML'));
    expect(meta).toBeDefined();
    if (meta) expect(extractZipEntry(zip, meta).toString('utf8')).toBe(METADATA_XML());
  });

  it('refuses traversal, absolute, backslash and NUL entry names', () => {
    const base = Buffer.from(zipSync({ 'IHE_XDM/SUBSET01/XXXXXXXXXXXXXXXX': strToU8('x') }));
    for (const bad of ['../../../../../etc/passwd', '/IHE_XDM/SUBSET01/ABSOLUTE', 'IHE_XDM\\SUBSET01\\BACKSLASH', 'IHE_XDM/SUBSET01/NUL\0XXXXXXXX', 'C:/IHE_XDM/SUBSET01/WINDOWS']) {
      const name = bad.padEnd(Buffer.byteLength('IHE_XDM/SUBSET01/XXXXXXXXXXXXXXXX'), 'x').slice(0, 33);
      const zip = renameEntry(base, 'IHE_XDM/SUBSET01/XXXXXXXXXXXXXXXX', name);
      expect(codeOf(() => listZipEntries(zip))).toBe(XDM_ARCHIVE_UNSAFE);
      const att = input({ attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: zip }] });
      expect(codeOf(() => readXdm(att))).toBe(XDM_ARCHIVE_UNSAFE);
    }
  });

  it('refuses too many entries and oversized declared sizes before inflating', () => {
    const many: Record<string, Uint8Array> = {};
    for (let i = 0; i < 20; i++) many[`f${i}`] = strToU8('x');
    expect(codeOf(() => listZipEntries(zipSync(many), { maxEntries: 10, maxTotalUncompressed: 1e9, maxEntryUncompressed: 1e9 }))).toBe(XDM_ARCHIVE_TOO_LARGE);
    const bigDeclared = forgeDeclaredSize(buildXdmZip(), 0xfffffff0);
    expect(codeOf(() => listZipEntries(bigDeclared))).toBe(XDM_ARCHIVE_TOO_LARGE);
  });

  it('stops a member that inflates beyond its declared size (zip bomb)', () => {
    // 24 MB of zeros compress to ~24 KB; the forged header claims 100 bytes.
    const bomb = Buffer.from(zipSync({ 'IHE_XDM/SUBSET01/METADATA.XML': new Uint8Array(24 * 1024 * 1024) }, { level: 1 }));
    expect(bomb.length).toBeLessThan(200_000);
    const forged = forgeDeclaredSize(bomb, 100);
    const started = Date.now();
    const att = input({ attachments: [{ filename: 'IHE_XDM.ZIP', contentType: 'application/zip', content: forged }] });
    expect(codeOf(() => readXdm(att))).toBe(XDM_ARCHIVE_UNSAFE);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('detects a size or CRC that does not match the data', () => {
    const zip = Buffer.from(zipSync({ 'a.txt': strToU8('hello world hello world') }));
    const [entry] = listZipEntries(zip);
    expect(entry).toBeDefined();
    if (!entry) return;
    expect(codeOf(() => extractZipEntry(zip, { ...entry, uncompressedSize: entry.uncompressedSize + 5 }))).toBe(XDM_ARCHIVE_INVALID);
    expect(codeOf(() => extractZipEntry(zip, { ...entry, crc: entry.crc ^ 1 }))).toBe(XDM_ARCHIVE_INVALID);
  });
});
