import { z } from 'zod';
import type { DirectoryEntry } from '../store/types.js';
import { isValidMailAddress } from './ans-import.js';
import { DirectoryErrorCode, DirectoryFormatError } from './errors.js';
import { isValidDomainName } from './whitelist.js';

/**
 * Directory export exchanged between gateways: a versioned JSON document in which a gateway
 * publishes its own domain's entries, its filing key and its certificate — public data only.
 * The reader trusts a peer only for its own domain: an entry for another domain is rejected, and
 * every accepted entry is marked `source = peer:<domain>` whatever the document says.
 */
export const EXPORT_FORMAT = 'medgate-directory-export';
export const EXPORT_VERSION = 1;

const PRIVATE_KEY_MARK = /PRIVATE KEY/;
const MAX_TEXT = 1024;
const MAX_KEY = 64 * 1024;

export interface ExportedGateway {
  domain: string;
  /** Armored OpenPGP public key used to encrypt routing headers for this gateway. */
  filingKey: string | null;
  /** PEM certificate of the gateway. */
  certificate: string | null;
  /** Record-server (RMP) mailboxes of that gateway. */
  recordServers?: string[];
}

export interface ParsedDirectoryExport {
  gateway: ExportedGateway & { generatedAt: string };
  entries: DirectoryEntry[];
  rejected: Array<{ index: number; reason: string; address?: string }>;
}

const text = z.string().max(MAX_TEXT).nullable();
const isoDate = z.string().max(64).refine((value) => !Number.isNaN(Date.parse(value)), 'expected an ISO 8601 date');
const pgpPublicKey = z.string().max(MAX_KEY).refine((v) => v.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----'), 'expected an armored OpenPGP public key');
const certificatePem = z.string().max(MAX_KEY).refine((v) => v.includes('-----BEGIN CERTIFICATE-----'), 'expected a PEM certificate');

const entrySchema = z.object({
  address: z.string().max(254).refine(isValidMailAddress, 'expected a mail address local-part@domain'),
  mailboxType: z.enum(['PER', 'ORG', 'APP']),
  idType: z.enum(['RPPS', 'ADELI', 'FINESS', 'INTERNAL']).nullable(),
  idValue: text,
  nationalId: text,
  civility: text,
  familyName: text,
  givenName: text,
  professionCode: text,
  professionLabel: text,
  specialtyCode: text,
  specialtyLabel: text,
  organisation: text,
  status: z.enum(['active', 'suspended', 'revoked']),
  certificatePem: certificatePem.nullable(),
  pgpPublicKey: pgpPublicKey.nullable(),
  updatedAt: isoDate,
});

const documentSchema = z.object({
  format: z.literal(EXPORT_FORMAT),
  version: z.literal(EXPORT_VERSION),
  generatedAt: isoDate,
  gateway: z.object({
    domain: z.string().max(253).refine((d) => isValidDomainName(d.toLowerCase()), 'expected a domain name'),
    filingKey: pgpPublicKey.nullable(),
    certificate: certificatePem.nullable(),
    /** Addresses of the exporting gateway's record-server (RMP) mailboxes: they require a named patient. */
    recordServers: z.array(z.string().max(254)).max(10_000).optional(),
  }),
  entries: z.array(z.unknown()),
});

type ExportedEntry = z.infer<typeof entrySchema>;

export function buildDirectoryExport(opts: {
  gatewayDomain: string;
  entries: DirectoryEntry[];
  filingKeyArmored?: string;
  gatewayCertificatePem?: string;
  recordServers?: string[];
  generatedAt?: Date;
}): string {
  const domain = opts.gatewayDomain.trim().toLowerCase();
  if (!isValidDomainName(domain)) {
    throw invalidInput(`the gateway domain ${JSON.stringify(opts.gatewayDomain)} is not a valid domain name`);
  }
  refusePrivateKey(opts.filingKeyArmored, 'the filing key');
  refusePrivateKey(opts.gatewayCertificatePem, 'the gateway certificate');
  if (opts.filingKeyArmored !== undefined && !pgpPublicKey.safeParse(opts.filingKeyArmored).success) {
    throw invalidInput('the filing key is not an armored OpenPGP public key');
  }
  if (opts.gatewayCertificatePem !== undefined && !certificatePem.safeParse(opts.gatewayCertificatePem).success) {
    throw invalidInput('the gateway certificate is not a PEM certificate');
  }

  const entries: ExportedEntry[] = opts.entries
    .map((entry) => {
      const address = entry.address.toLowerCase();
      if (domainOf(address) !== domain) {
        // A gateway only speaks for its own domain; exporting others' entries would be refused by peers.
        throw invalidInput(`the entry ${address} is not in the gateway domain ${domain}`, { address });
      }
      refusePrivateKey(entry.certificatePem ?? undefined, `the certificate of ${address}`);
      refusePrivateKey(entry.pgpPublicKey ?? undefined, `the OpenPGP key of ${address}`);
      const exported = exportedEntry({ ...entry, address });
      const check = entrySchema.safeParse(exported);
      if (!check.success) {
        const { field, reason } = describeIssue(check.error);
        throw invalidInput(`the entry ${address} has field "${field}" that ${reason}`, { address, field });
      }
      return exported;
    })
    .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));

  const document = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    generatedAt: (opts.generatedAt ?? new Date()).toISOString(),
    gateway: {
      domain,
      filingKey: opts.filingKeyArmored ?? null,
      certificate: opts.gatewayCertificatePem ?? null,
      recordServers: (opts.recordServers ?? []).map((a) => a.toLowerCase()).filter((a) => domainOf(a) === domain).sort(),
    },
    entries,
  };
  const json = JSON.stringify(document, null, 2);
  // Last line of defence: whatever field it came through, no private key block leaves the gateway.
  refusePrivateKey(json, 'the export');
  return json;
}

export function parseDirectoryExport(json: string, opts: { expectedDomain?: string } = {}): ParsedDirectoryExport {
  if (PRIVATE_KEY_MARK.test(json)) {
    throw new DirectoryFormatError(
      DirectoryErrorCode.ExportPrivateKey,
      'The peer directory export contains a private key block; refusing it (the peer should be told its export leaks a key)',
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new DirectoryFormatError(DirectoryErrorCode.ExportInvalidDocument, 'The peer directory export is not valid JSON', { field: '(document)' }, { cause: err });
  }
  if (raw !== null && typeof raw === 'object' && 'version' in raw && raw.version !== EXPORT_VERSION && (raw as { format?: unknown }).format === EXPORT_FORMAT) {
    throw new DirectoryFormatError(
      DirectoryErrorCode.ExportUnsupportedVersion,
      `The peer directory export has version ${JSON.stringify(raw.version)}; this gateway reads version ${EXPORT_VERSION}`,
      { version: raw.version },
    );
  }
  const parsed = documentSchema.safeParse(raw);
  if (!parsed.success) {
    const { field, reason } = describeIssue(parsed.error);
    throw new DirectoryFormatError(DirectoryErrorCode.ExportInvalidDocument, `The peer directory export is invalid: field "${field}" ${reason}`, { field });
  }
  const doc = parsed.data;
  const domain = doc.gateway.domain.toLowerCase();
  if (opts.expectedDomain !== undefined && domain !== opts.expectedDomain.trim().toLowerCase()) {
    throw new DirectoryFormatError(
      DirectoryErrorCode.ExportDomainMismatch,
      `The peer directory export speaks for ${domain}, but it was expected from ${opts.expectedDomain}`,
      { domain, expectedDomain: opts.expectedDomain },
    );
  }

  const source = `peer:${domain}`;
  const entries: DirectoryEntry[] = [];
  const rejected: ParsedDirectoryExport['rejected'] = [];
  const seen = new Map<string, number>();
  doc.entries.forEach((item, index) => {
    const address = addressHint(item);
    const result = entrySchema.safeParse(item);
    if (!result.success) {
      const { field, reason } = describeIssue(result.error);
      rejected.push(withAddress({ index, reason: `field "${field}" ${reason}` }, address));
      return;
    }
    const entry = { ...result.data, address: result.data.address.toLowerCase() };
    if (domainOf(entry.address) !== domain) {
      rejected.push({ index, reason: `${entry.address} is not in the exporting gateway's domain ${domain}; a peer may only speak for its own domain`, address: entry.address });
      return;
    }
    const first = seen.get(entry.address);
    if (first !== undefined) {
      rejected.push({ index, reason: `${entry.address} is a duplicate of entry ${first}; the first occurrence is kept`, address: entry.address });
      return;
    }
    seen.set(entry.address, index);
    entries.push({ ...entry, source });
  });

  return {
    gateway: {
      domain, filingKey: doc.gateway.filingKey, certificate: doc.gateway.certificate, generatedAt: doc.generatedAt,
      recordServers: (doc.gateway.recordServers ?? []).map((a) => a.toLowerCase()).filter((a) => domainOf(a) === domain),
    },
    entries,
    rejected,
  };
}

/** The public fields of an entry, in a fixed order; `source` is local bookkeeping and stays home. */
function exportedEntry(entry: DirectoryEntry): ExportedEntry {
  return {
    address: entry.address,
    mailboxType: entry.mailboxType,
    idType: entry.idType,
    idValue: entry.idValue,
    nationalId: entry.nationalId,
    civility: entry.civility,
    familyName: entry.familyName,
    givenName: entry.givenName,
    professionCode: entry.professionCode,
    professionLabel: entry.professionLabel,
    specialtyCode: entry.specialtyCode,
    specialtyLabel: entry.specialtyLabel,
    organisation: entry.organisation,
    status: entry.status,
    certificatePem: entry.certificatePem,
    pgpPublicKey: entry.pgpPublicKey,
    updatedAt: entry.updatedAt,
  };
}

function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1);
}

function describeIssue(error: z.ZodError): { field: string; reason: string } {
  const issue = error.issues[0];
  if (issue === undefined) return { field: '(document)', reason: 'is invalid' };
  const field = issue.path.length === 0 ? '(document)' : issue.path.map(String).join('.');
  return { field, reason: `is invalid: ${issue.message}` };
}

function addressHint(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object') return undefined;
  const address = (item as { address?: unknown }).address;
  return typeof address === 'string' && address.length <= 254 ? address.toLowerCase() : undefined;
}

function withAddress<T extends object>(value: T, address: string | undefined): T & { address?: string } {
  return address === undefined ? value : { ...value, address };
}

function refusePrivateKey(value: string | undefined, what: string): void {
  if (value !== undefined && PRIVATE_KEY_MARK.test(value)) {
    throw new DirectoryFormatError(DirectoryErrorCode.ExportPrivateKey, `Refusing to export ${what}: it contains a private key block`);
  }
}

function invalidInput(reason: string, details?: Record<string, unknown>): DirectoryFormatError {
  return new DirectoryFormatError(DirectoryErrorCode.ExportInvalidInput, `Cannot build the directory export: ${reason}`, details);
}
