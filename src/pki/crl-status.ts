/**
 * The state of each configured CRL file, for /metrics and the log: a CRL that is missing,
 * unreadable (cannot be read or parsed) or stale (past its nextUpdate) leaves its issuer's
 * certificates uncheckable, which peers and clients are told as a TEMPORARY refusal (4xx).
 */
import fs from 'node:fs';
import * as x509 from '@peculiar/x509';
import { splitPemBlocks } from './pem.js';
import { ensureCryptoProviders } from './provider.js';

export type CrlFileState = 'current' | 'missing' | 'unreadable' | 'stale';
export const CRL_FILE_STATES: readonly CrlFileState[] = ['current', 'missing', 'unreadable', 'stale'];

export function crlFileState(file: string, now = new Date()): CrlFileState {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'unreadable';
  }
  let blocks;
  try {
    blocks = splitPemBlocks(text).filter((b) => b.label === 'X509 CRL');
  } catch {
    return 'unreadable';
  }
  if (!blocks.length) return 'unreadable';
  ensureCryptoProviders();
  let stale = false;
  for (const b of blocks) {
    try {
      const crl = new x509.X509Crl(b.der);
      if (crl.nextUpdate && crl.nextUpdate < now) stale = true;
    } catch {
      return 'unreadable';
    }
  }
  return stale ? 'stale' : 'current';
}

/** How many configured CRL files are in each state. */
export function crlStates(files: string[], now = new Date()): Record<CrlFileState, number> {
  const counts: Record<CrlFileState, number> = { current: 0, missing: 0, unreadable: 0, stale: 0 };
  for (const f of files) counts[crlFileState(f, now)]++;
  return counts;
}
