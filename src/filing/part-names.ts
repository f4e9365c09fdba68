/**
 * A filed document's part name is the attachment's file name, and French hospitals name their PDFs
 * after the patient (the ANS sample: 20261204_CRH_DUPONT_Jean_1.pdf). So the filing store keeps it
 * as it keeps identities and titles: a keyed hash (HMAC under the filing data key) to find a
 * message's documents again — refiling stays idempotent on (message id, part hash) — and the name
 * encrypted (AES-GCM under the same key) to show it. The hash covers the message id too, so two
 * documents of the same name in two messages do not show as equal in the store.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { MigrationKeys, SealedPartName } from '../store/types.js';
import { FilingCipher } from './data-key.js';
import { FilingError, FilingErrorCode } from './errors.js';

/** The keyed hash a document's part is found by, within its message. */
export function partHash(cipher: FilingCipher, messageId: string, part: string): string {
  return cipher.hash('part', `${messageId}\u0000${part}`);
}

export function sealPartName(cipher: FilingCipher, messageId: string, part: string): SealedPartName {
  return { partHash: partHash(cipher, messageId, part), partEnc: cipher.encrypt(part) };
}

/**
 * The keys a store migration needs to seal the part names an older medgate kept in clear, from
 * the filing data key under `keysDir` — read, never created: without the key file there is nothing
 * filed to convert, or the key was lost (the migration then refuses and says so).
 */
export function filingMigrationKeys(keysDir: string): MigrationKeys | undefined {
  const file = path.join(keysDir, 'keys', 'filing-data.key');
  if (!fs.existsSync(file)) return undefined;
  const key = fs.readFileSync(file);
  if (key.length !== 32) {
    throw new FilingError(FilingErrorCode.DATA_KEY_INVALID, `the filing data key ${file} is not a 32-byte key: restore it from backup`, { file });
  }
  const cipher = new FilingCipher(key);
  return { sealPartName: (messageId, part) => sealPartName(cipher, messageId, part), encrypt: (plain) => cipher.encrypt(plain) };
}
