import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { PkiError, PkiErrorCode } from './errors.js';
import type { CertificateProfile } from './profiles.js';

/** Where a test CA keeps its files. Only `ca.pem` and `crl.pem` are public. */
export interface CaPaths {
  dir: string;
  certPem: string;
  crlPem: string;
  privateDir: string;
  keyPem: string;
  state: string;
}

export function caPaths(dir: string): CaPaths {
  const privateDir = join(dir, 'private');
  return {
    dir,
    certPem: join(dir, 'ca.pem'),
    crlPem: join(dir, 'crl.pem'),
    privateDir,
    keyPem: join(privateDir, 'ca.key.pem'),
    state: join(privateDir, 'ca-state.json'),
  };
}

export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'caCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
] as const;

export type RevocationReason = (typeof REVOCATION_REASONS)[number];

const caStateSchema = z.object({
  version: z.literal(1),
  /** Random per-CA high half of every serial, so two test CAs never hand out the same serial. */
  serialPrefix: z.string().regex(/^[1-7][0-9a-f]{7}$/),
  nextSerial: z.number().int().positive().max(0xffffffff),
  nextCrlNumber: z.number().int().positive(),
  crlUrl: z.string().optional(),
  issued: z.array(
    z.object({
      serial: z.string(),
      profile: z.enum(['tls-server', 'tls-client', 'user', 'gateway'] satisfies CertificateProfile[]),
      commonName: z.string(),
      issuedAt: z.string(),
      notAfter: z.string(),
    }),
  ),
  revoked: z.array(
    z.object({
      serial: z.string(),
      revokedAt: z.string(),
      reason: z.enum(REVOCATION_REASONS),
    }),
  ),
});

export type CaState = z.infer<typeof caStateSchema>;

export function newCaState(crlUrl: string | undefined): CaState {
  // First hex digit 1-7: the serial's top bit stays clear, so it is positive without padding.
  const prefix = (0x10000000 + (randomBytes(4).readUInt32BE(0) % 0x70000000)).toString(16);
  return {
    version: 1,
    serialPrefix: prefix,
    nextSerial: 1,
    nextCrlNumber: 1,
    ...(crlUrl !== undefined ? { crlUrl } : {}),
    issued: [],
    revoked: [],
  };
}

export function parseCaState(text: string, path: string): CaState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new PkiError(PkiErrorCode.CaCorrupt, `CA state file ${path} is not valid JSON`, { path }, { cause: err });
  }
  const parsed = caStateSchema.safeParse(json);
  if (!parsed.success) {
    throw new PkiError(PkiErrorCode.CaCorrupt, `CA state file ${path} has an unexpected shape`, {
      path,
      issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    });
  }
  return parsed.data;
}

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The private folder is created (or tightened) to 0700: only the operator account may list it. */
export async function ensurePrivateDir(paths: CaPaths): Promise<void> {
  await mkdir(paths.privateDir, { recursive: true, mode: 0o700 });
  await chmod(paths.privateDir, 0o700);
}

/**
 * Writes a file so that readers see the old or the new content, never half of it: temp file in the
 * same folder (created with the final mode, so a key is never briefly world-readable), fsync, rename.
 */
export async function writeFileAtomic(path: string, data: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', mode);
  try {
    await handle.writeFile(data, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // open()'s mode is filtered by the umask; set it exactly.
    await chmod(tmp, mode);
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
