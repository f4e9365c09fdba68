import fs from 'node:fs';
import path from 'node:path';
import type { MedgateConfig } from '../config/schema.js';
import { MedgateError } from '../errors.js';
import type { TestCa } from './test-ca.js';

export interface GatewayTls {
  certPem: string;
  keyPem: string;
  /** CA certificates clients and peers are checked against. */
  caPem: string[];
}

function read(file: string, what: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MedgateError('TLS_FILE_UNREADABLE', `cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The gateway's TLS identity: the configured files in production; otherwise a certificate issued
 * once from the local test CA (server and client use, for mutual TLS with peers).
 */
export async function ensureGatewayTls(config: MedgateConfig, loadCa: () => Promise<TestCa>): Promise<GatewayTls> {
  const caPem = config.pki.trustAnchors.filter((f) => fs.existsSync(f)).map((f) => read(f, 'trust anchor'));
  if (config.tls.certFile || config.tls.keyFile) {
    if (!config.tls.certFile || !config.tls.keyFile) {
      throw new MedgateError('CONFIG_INVALID', 'tls.certFile and tls.keyFile go together: set both or neither');
    }
    return { certPem: read(config.tls.certFile, 'TLS certificate'), keyPem: read(config.tls.keyFile, 'TLS key'), caPem };
  }
  const dir = path.join(config.keysDir ?? config.dataDir, 'tls');
  const certFile = path.join(dir, 'gateway.crt.pem');
  const keyFile = path.join(dir, 'gateway.key.pem');
  if (!fs.existsSync(certFile) || !fs.existsSync(keyFile)) {
    const ca = await loadCa();
    const issued = await ca.issue({
      profile: 'gateway',
      commonName: config.hostname,
      dnsNames: [...new Set([config.hostname, 'localhost', config.domain])],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(keyFile, issued.keyPem, { mode: 0o600 });
    fs.chmodSync(keyFile, 0o600); // mode only applies to a new file
    fs.writeFileSync(certFile, issued.certPem, { mode: 0o600 });
  }
  return { certPem: read(certFile, 'TLS certificate'), keyPem: read(keyFile, 'TLS key'), caPem };
}
