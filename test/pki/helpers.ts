import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `medgate-pki-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

export interface OpensslResult {
  ok: boolean;
  output: string;
}

/** Runs `openssl verify` on a certificate; ok is true only when openssl exits 0. */
export async function opensslVerify(
  workDir: string,
  caPem: string,
  certPem: string,
  extraArgs: string[] = [],
  crlPem?: string,
): Promise<OpensslResult> {
  const caFile = join(workDir, 'verify-ca.pem');
  const certFile = join(workDir, 'verify-cert.pem');
  await writeFile(caFile, caPem);
  await writeFile(certFile, certPem);
  const args = ['verify', '-CAfile', caFile, ...extraArgs];
  if (crlPem !== undefined) {
    const crlFile = join(workDir, 'verify-crl.pem');
    await writeFile(crlFile, crlPem);
    args.push('-crl_check', '-CRLfile', crlFile);
  }
  args.push(certFile);
  return new Promise((resolve) => {
    execFile('openssl', args, (error, stdout, stderr) => {
      resolve({ ok: error === null, output: `${stdout}${stderr}` });
    });
  });
}

/** Parses a certificate with `openssl x509 -text` to check what an independent tool sees. */
export async function opensslText(workDir: string, certPem: string): Promise<string> {
  const certFile = join(workDir, 'text-cert.pem');
  await writeFile(certFile, certPem);
  return new Promise((resolve, reject) => {
    execFile('openssl', ['x509', '-noout', '-text', '-in', certFile], (error, stdout, stderr) => {
      if (error) reject(new Error(`openssl x509 failed: ${stderr}`));
      else resolve(stdout);
    });
  });
}

export const DAY_MS = 24 * 60 * 60 * 1000;
