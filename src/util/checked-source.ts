/**
 * The DATA scans of src/smtp/data-scan and the MIME line scan of src/mime replace a library method
 * with one that does the same thing faster. They must never outlive the code they were checked
 * against: an upgrade may fix that very method (smtp-server 3.21 fixed a DATA smuggling bug in it).
 * So a replacement is installed only while the library method's source is, byte for byte, the one
 * checked; otherwise the library keeps its own code, and the replacement's test
 * (test/smtp/data-scan.test.ts, test/mime/line-scan.test.ts) fails until someone compares the new
 * upstream method with the replacement and updates the fingerprint.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';

export function sourceFingerprint(method: unknown): string {
  return createHash('sha256').update(typeof method === 'function' ? method.toString() : '').digest('hex');
}

/** Whether `method` is still the library code a replacement was checked against. */
export function isCheckedSource(method: unknown, fingerprint: string): boolean {
  return typeof method === 'function' && sourceFingerprint(method) === fingerprint;
}

/**
 * Whether the library file at `path` is, byte for byte, the one a replacement was checked against:
 * for a replacement that also copies the module's private constants and helpers, which a
 * fingerprint of the method alone would not see change.
 */
export function isCheckedFile(path: string, fingerprint: string): boolean {
  try {
    return createHash('sha256').update(fs.readFileSync(path)).digest('hex') === fingerprint;
  } catch {
    return false;
  }
}
