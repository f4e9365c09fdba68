import fs from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { generatePgpKey } from './keys.js';

export interface FilingKey {
  privateKey: openpgp.PrivateKey;
  publicKeyArmored: string;
  fingerprint: string;
}

/**
 * The gateway's filing key opens routing headers (never content). It is the gateway's own secret,
 * kept in the data directory with owner-only permissions and created on first start.
 */
export async function ensureFilingKey(dataDir: string, domain: string): Promise<FilingKey> {
  const dir = path.join(dataDir, 'keys');
  const file = path.join(dir, 'filing-key.asc');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const key = await generatePgpKey(`medgate filing key ${domain}`, `filing@${domain}`);
    fs.writeFileSync(file, key.privateKey.armor(), { mode: 0o600, flag: 'wx' });
  }
  const privateKey = await openpgp.readPrivateKey({ armoredKey: fs.readFileSync(file, 'utf8') });
  return { privateKey, publicKeyArmored: privateKey.toPublic().armor(), fingerprint: privateKey.getFingerprint().toUpperCase() };
}
