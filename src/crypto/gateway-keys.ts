import fs from 'node:fs';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { createFileOnce } from '../util/create-once.js';
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
  return ensureGatewayKey(dataDir, 'filing', `medgate filing key ${domain}`, `filing@${domain}`);
}

/**
 * The custody key wraps the private keys of application accounts that log in with a client
 * certificate only: a machine has no password to derive a wrapping key from, so its key is held
 * by the gateway (documented in docs/operations.md). Person accounts never use it.
 */
export async function ensureCustodyKey(dataDir: string, domain: string): Promise<FilingKey> {
  return ensureGatewayKey(dataDir, 'custody', `medgate custody key ${domain}`, `custody@${domain}`);
}

/** The postmaster key signs the gateway's own messages (delivery reports). */
export async function ensurePostmasterKey(dataDir: string, domain: string): Promise<FilingKey> {
  return ensureGatewayKey(dataDir, 'postmaster', `medgate postmaster ${domain}`, `postmaster@${domain}`);
}

/**
 * The transit key holds MSSanté-bound messages while they wait in the queue: the clear MIME an
 * MSSanté operator receives is sealed to it at acceptance and opened only to be sent (src/smtp/mssante).
 */
export async function ensureTransitKey(dataDir: string, domain: string): Promise<FilingKey> {
  return ensureGatewayKey(dataDir, 'mssante-transit', `medgate MSSante transit key ${domain}`, `transit@${domain}`);
}

/**
 * The intake key signs what this gateway seals on arrival from an MSSanté operator (plain MIME over
 * mutual TLS, issue 28): the content and a routing header stating the transport facts. It vouches for
 * the transport, never for the author, so readers show its signature as `transport`. It is not the
 * postmaster's key (which signs the gateway's own messages) and no message is encrypted to it.
 */
export async function ensureIntakeKey(dataDir: string, domain: string): Promise<FilingKey> {
  return ensureGatewayKey(dataDir, 'mssante-intake', `medgate MSSante intake ${domain}`, `intake@${domain}`);
}

async function ensureGatewayKey(dataDir: string, name: string, userName: string, email: string): Promise<FilingKey> {
  const file = path.join(dataDir, 'keys', `${name}-key.asc`);
  if (!fs.existsSync(file)) createFileOnce(file, (await generatePgpKey(userName, email)).privateKey.armor());
  const privateKey = await openpgp.readPrivateKey({ armoredKey: fs.readFileSync(file, 'utf8') });
  return { privateKey, publicKeyArmored: privateKey.toPublic().armor(), fingerprint: privateKey.getFingerprint().toUpperCase() };
}
