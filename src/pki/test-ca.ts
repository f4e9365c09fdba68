import type { webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as x509 from '@peculiar/x509';
import {
  ensurePrivateDir,
  parseCaState,
  REVOCATION_REASONS,
  writeFileAtomic,
  type CaPaths,
  type CaState,
  type RevocationReason,
} from './ca-files.js';
import { fingerprint256 } from './cert-info.js';
import { buildCrlPem, type CrlOptions } from './crl-builder.js';
import { PkiError, PkiErrorCode } from './errors.js';
import { validateIssueRequest, type IssueRequest } from './issue-request.js';
import { exportPrivateKeyPem, generateKeyPair, type SigningAlgorithm } from './keys.js';
import { derToPem } from './pem.js';
import { PROFILE_EKUS, profileKeyUsage, type CertificateProfile } from './profiles.js';

export interface IssuedCertificate {
  certPem: string;
  /** PKCS#8 PEM. Not kept by the CA: the caller stores it (or loses it). */
  keyPem: string;
  /** Lowercase hex, as `readCertificateInfo().serial` and `revoke()` use it. */
  serial: string;
  fingerprint256: string;
  notBefore: Date;
  notAfter: Date;
}

export interface IssuedRecord {
  serial: string;
  profile: CertificateProfile;
  commonName: string;
  issuedAt: string;
  notAfter: string;
  revoked?: { revokedAt: string; reason: RevocationReason };
}

/** A local CA standing in for IGC-Santé in development and tests. */
export interface TestCa {
  readonly dir: string;
  readonly paths: CaPaths;
  /** The trust anchor (also in `<dir>/ca.pem`). */
  readonly certPem: string;
  readonly subject: string;
  readonly notAfter: Date;
  readonly fingerprint256: string;
  issue(req: IssueRequest): Promise<IssuedCertificate>;
  /** Idempotent: revoking a revoked serial keeps the first date and reason. */
  revoke(serialHex: string, reason?: RevocationReason): Promise<void>;
  /** Signs a fresh CRL of every revoked serial and writes it to `<dir>/crl.pem`. */
  crlPem(opts?: CrlOptions): Promise<string>;
  /** Every certificate this CA issued, with its revocation if any. */
  listIssued(): Promise<IssuedRecord[]>;
}

/** Serial numbers as the CA writes them: lowercase hex, no separators, no leading zero bytes. */
export function normalizeSerial(serialHex: string): string {
  const hex = serialHex.replace(/[\s:]/g, '').toLowerCase().replace(/^(00)+(?=..)/, '');
  if (!/^[0-9a-f]+$/.test(hex)) {
    throw new PkiError(PkiErrorCode.BadRequest, 'serial number must be hexadecimal', { serial: serialHex });
  }
  return hex.length % 2 === 1 ? `0${hex}` : hex;
}

export class FileTestCa implements TestCa {
  readonly dir: string;
  readonly certPem: string;
  readonly subject: string;
  readonly notAfter: Date;
  readonly fingerprint256: string;
  /** Serialises state changes inside this process (serial numbers must never repeat). */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly paths: CaPaths,
    private readonly caCert: x509.X509Certificate,
    private readonly signingKey: webcrypto.CryptoKey,
    private readonly signingAlgorithm: SigningAlgorithm,
  ) {
    this.dir = paths.dir;
    this.certPem = derToPem(new Uint8Array(caCert.rawData), 'CERTIFICATE');
    this.subject = caCert.subject;
    this.notAfter = caCert.notAfter;
    this.fingerprint256 = fingerprint256(new Uint8Array(caCert.rawData));
  }

  // async: a bad request must reject the promise, not throw before one exists.
  async issue(req: IssueRequest): Promise<IssuedCertificate> {
    const request = validateIssueRequest(req, this.caCert.notAfter);
    return this.exclusive(async () => {
      const state = await this.readState();
      const serial = `${state.serialPrefix}${state.nextSerial.toString(16).padStart(8, '0')}`;
      const keys = await generateKeyPair(request.keyType);
      const sans: x509.JsonGeneralName[] = [
        ...request.dnsNames.map((value) => ({ type: 'dns' as const, value })),
        ...request.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
        ...request.emails.map((value) => ({ type: 'email' as const, value })),
      ];
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(profileKeyUsage(request.profile, request.keyType), true),
        new x509.ExtendedKeyUsageExtension([...PROFILE_EKUS[request.profile]], false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await this.authorityKeyIdentifier(),
      ];
      if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));
      if (state.crlUrl) extensions.push(new x509.CRLDistributionPointsExtension([state.crlUrl]));

      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: serial,
        // JSON form, not a DN string: a name containing "," or "=" must not become extra RDNs.
        subject: [{ CN: [request.commonName] }],
        issuer: this.caCert.subjectName,
        notBefore: request.notBefore,
        notAfter: request.notAfter,
        publicKey: keys.publicKey,
        signingKey: this.signingKey,
        signingAlgorithm: this.signingAlgorithm,
        extensions,
      });

      state.nextSerial += 1;
      state.issued.push({
        serial,
        profile: request.profile,
        commonName: request.commonName,
        issuedAt: new Date().toISOString(),
        notAfter: cert.notAfter.toISOString(),
      });
      await this.writeState(state);
      const der = new Uint8Array(cert.rawData);
      return {
        certPem: derToPem(der, 'CERTIFICATE'),
        keyPem: await exportPrivateKeyPem(keys.privateKey),
        serial,
        fingerprint256: fingerprint256(der),
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
      };
    });
  }

  async revoke(serialHex: string, reason: RevocationReason = 'unspecified'): Promise<void> {
    const serial = normalizeSerial(serialHex);
    if (!REVOCATION_REASONS.includes(reason)) {
      throw new PkiError(PkiErrorCode.BadRequest, `unknown revocation reason "${String(reason)}"`, {
        allowed: REVOCATION_REASONS,
      });
    }
    return this.exclusive(async () => {
      const state = await this.readState();
      if (!state.issued.some((c) => c.serial === serial)) {
        throw new PkiError(PkiErrorCode.UnknownSerial, `this CA never issued serial ${serial}`, { serial });
      }
      if (state.revoked.some((r) => r.serial === serial)) return;
      state.revoked.push({ serial, revokedAt: new Date().toISOString(), reason });
      await this.writeState(state);
    });
  }

  crlPem(opts: CrlOptions = {}): Promise<string> {
    return this.exclusive(async () => {
      const state = await this.readState();
      const pem = await buildCrlPem(
        { caCert: this.caCert, key: this.signingKey, algorithm: this.signingAlgorithm },
        state,
        opts,
      );
      state.nextCrlNumber += 1;
      await this.writeState(state);
      await writeFileAtomic(this.paths.crlPem, pem, 0o644);
      return pem;
    });
  }

  async listIssued(): Promise<IssuedRecord[]> {
    const state = await this.readState();
    return state.issued.map((c) => {
      const revoked = state.revoked.find((r) => r.serial === c.serial);
      return {
        ...c,
        ...(revoked ? { revoked: { revokedAt: revoked.revokedAt, reason: revoked.reason } } : {}),
      };
    });
  }

  private async authorityKeyIdentifier(): Promise<x509.AuthorityKeyIdentifierExtension> {
    // Copy the CA's SKI rather than recomputing it: they must match byte for byte for chain building.
    const caSki = this.caCert.getExtension(x509.SubjectKeyIdentifierExtension);
    return caSki
      ? new x509.AuthorityKeyIdentifierExtension(caSki.keyId)
      : x509.AuthorityKeyIdentifierExtension.create(this.caCert.publicKey);
  }

  private async readState(): Promise<CaState> {
    let text: string;
    try {
      text = await readFile(this.paths.state, 'utf8');
    } catch (err) {
      throw new PkiError(PkiErrorCode.CaCorrupt, `CA state file ${this.paths.state} cannot be read`, {
        path: this.paths.state,
      }, { cause: err });
    }
    return parseCaState(text, this.paths.state);
  }

  private async writeState(state: CaState): Promise<void> {
    await ensurePrivateDir(this.paths);
    await writeFileAtomic(this.paths.state, `${JSON.stringify(state, null, 2)}\n`, 0o600);
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
