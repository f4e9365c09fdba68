import { webcrypto } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import * as x509 from '@peculiar/x509';
import { caPaths, ensurePrivateDir, exists, newCaState, writeFileAtomic } from './ca-files.js';
import { PkiError, PkiErrorCode } from './errors.js';
import { exportPrivateKeyPem, importSigningKey } from './keys.js';
import { derToPem, pemToDer } from './pem.js';
import { ensureCryptoProviders } from './provider.js';
import { FileTestCa, type TestCa } from './test-ca.js';

export interface CreateTestCaOptions {
  dir: string;
  /** Default `medgate test CA`. */
  commonName?: string;
  /** Default 3650 (ten years). */
  validityDays?: number;
  /** Replace an existing CA in `dir` (its certificates stop validating). */
  force?: boolean;
  /** When set, issued certificates carry this CRL distribution point URL. */
  crlUrl?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_ORGANIZATION = 'medgate test PKI (not IGC-Sante)';

/** Creates a root CA: `<dir>/ca.pem`, `<dir>/private/ca.key.pem` (0600), `<dir>/private/ca-state.json`. */
export async function createTestCa(opts: CreateTestCaOptions): Promise<TestCa> {
  ensureCryptoProviders();
  const paths = caPaths(opts.dir);
  const commonName = (opts.commonName ?? 'medgate test CA').trim();
  const validityDays = opts.validityDays ?? 3650;
  if (commonName.length === 0 || commonName.length > 64) {
    throw new PkiError(PkiErrorCode.BadRequest, 'CA commonName must be 1 to 64 characters');
  }
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new PkiError(PkiErrorCode.BadRequest, 'CA validityDays must be a positive number');
  }
  const existing = [paths.certPem, paths.keyPem, paths.state];
  const found = (await Promise.all(existing.map(exists))).some(Boolean);
  if (found && !opts.force) {
    throw new PkiError(
      PkiErrorCode.CaExists,
      `a test CA already exists in ${opts.dir}; refusing to overwrite it (use --force to replace it)`,
      { dir: opts.dir },
    );
  }
  if (found) await Promise.all([...existing, paths.crlPem].map((p) => rm(p, { force: true })));

  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const state = newCaState(opts.crlUrl);
  const notBefore = new Date(Date.now() - 5 * 60 * 1000);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: `${state.serialPrefix}00000000`,
    name: [{ CN: [commonName] }, { O: [CA_ORGANIZATION] }],
    notBefore,
    notAfter: new Date(notBefore.getTime() + validityDays * DAY_MS),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });

  // Key and state first, public certificate last: ca.pem present means the CA is complete.
  await ensurePrivateDir(paths);
  await writeFileAtomic(paths.keyPem, await exportPrivateKeyPem(keys.privateKey), 0o600);
  await writeFileAtomic(paths.state, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  await writeFileAtomic(paths.certPem, derToPem(new Uint8Array(cert.rawData), 'CERTIFICATE'), 0o644);
  return loadTestCa(opts.dir);
}

/** Loads the CA written by `createTestCa` (or `medgate pki init`). */
export async function loadTestCa(dir: string): Promise<TestCa> {
  ensureCryptoProviders();
  const paths = caPaths(dir);
  const [certText, keyText] = await Promise.all([readOptional(paths.certPem), readOptional(paths.keyPem)]);
  if (certText === undefined || keyText === undefined || !(await exists(paths.state))) {
    throw new PkiError(
      PkiErrorCode.CaMissing,
      `no test CA in ${dir}: run \`medgate pki init\` to create one`,
      { dir, missing: [certText === undefined ? 'ca.pem' : undefined, keyText === undefined ? 'private/ca.key.pem' : undefined].filter(Boolean) },
    );
  }
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pemToDer(certText, 'CERTIFICATE'));
  } catch (err) {
    throw new PkiError(PkiErrorCode.CaCorrupt, `CA certificate ${paths.certPem} cannot be parsed`, {
      path: paths.certPem,
    }, { cause: err });
  }
  const signing = await importSigningKey(keyText, paths.keyPem);
  if (!Buffer.from(signing.spki).equals(Buffer.from(cert.publicKey.rawData))) {
    throw new PkiError(PkiErrorCode.CaCorrupt, `CA private key ${paths.keyPem} does not match ${paths.certPem}`, {
      dir,
    });
  }
  const ca = new FileTestCa(paths, cert, signing.key, signing.algorithm);
  await ensurePrivateDir(paths);
  // Surface a damaged state file now rather than on the first issue.
  await ca.listIssued();
  return ca;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PkiError(PkiErrorCode.CaCorrupt, `cannot read ${path}`, { path }, { cause: err });
  }
}
