import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createFileOnce } from '../util/create-once.js';
import { FilingError, FilingErrorCode } from './errors.js';
import { secretKey } from '../crypto/secret-key.js';

/**
 * The filing data key protects patient identity at rest. One 32-byte random secret per gateway
 * (`<keysDir>/keys/filing-data.key`, keysDir defaulting to dataDir, owner-only, created on first use like the other gateway keys);
 * two independent sub-keys are derived from it with HKDF so that the encryption key and the
 * matching (HMAC) key are never the same bytes.
 */
export async function ensureFilingDataKey(dataDir: string): Promise<Buffer> {
  const file = path.join(dataDir, 'keys', 'filing-data.key');
  createFileOnce(file, randomBytes(32));
  const key = fs.readFileSync(file);
  if (key.length !== 32) {
    throw new FilingError(FilingErrorCode.DATA_KEY_INVALID, `the filing data key ${file} is not a 32-byte key: restore it from backup`, { file });
  }
  return key;
}

const VERSION = 'v1';

/** AES-256-GCM for identity fields and HMAC-SHA256 for the keyed hashes used to find patients. */
export class FilingCipher {
  // KeyObjects: bytes as a cipher or HMAC key cost two thrown errors per call (src/crypto/secret-key.ts).
  private readonly encKey: KeyObject;
  private readonly macKey: KeyObject;

  constructor(master: Buffer) {
    this.encKey = secretKey(new Uint8Array(hkdfSync('sha256', master, Buffer.alloc(0), 'medgate filing encryption v1', 32)));
    this.macKey = secretKey(new Uint8Array(hkdfSync('sha256', master, Buffer.alloc(0), 'medgate filing matching v1', 32)));
  }

  /** `v1:` + base64(iv ‖ tag ‖ ciphertext); a fresh 96-bit IV each time. */
  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${VERSION}:${Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64')}`;
  }

  decrypt(sealed: string): string {
    try {
      if (!sealed.startsWith(`${VERSION}:`)) throw new Error('unknown version');
      const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    } catch {
      throw new FilingError(FilingErrorCode.DATA_UNREADABLE, 'filed patient data cannot be decrypted with this gateway\'s filing data key');
    }
  }

  encryptJson(value: unknown): string {
    return this.encrypt(JSON.stringify(value));
  }

  decryptJson<T>(sealed: string): T {
    return JSON.parse(this.decrypt(sealed)) as T;
  }

  /** Keyed hash (hex) with a domain label, so a name hash can never equal an INS hash. */
  hash(label: string, value: string): string {
    return createHmac('sha256', this.macKey).update(`${label}\u0000${value}`, 'utf8').digest('hex');
  }
}
