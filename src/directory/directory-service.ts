import fs from 'node:fs';
import type { AuditTrail } from '../audit/audit-trail.js';
import { MedgateError } from '../errors.js';
import type { DirectoryEntry, Store } from '../store/types.js';
import { parseAnsExtraction } from './ans-import.js';
import { buildDirectoryExport, parseDirectoryExport } from './peer-export.js';
import { parseWhitelist } from './whitelist.js';

export interface ImportReport {
  inserted: number;
  updated: number;
  unchanged: number;
  rejected: Array<{ line?: number; reason: string; address?: string }>;
}

export type SenderStatus =
  | { ok: true; entry: DirectoryEntry }
  | { ok: false; reason: 'unknown' | 'suspended' | 'revoked'; entry?: DirectoryEntry };

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new MedgateError('FILE_UNREADABLE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Keys and certificates published by local accounts survive a re-import of the national extraction. */
function mergeImported(incoming: DirectoryEntry, existing: DirectoryEntry | undefined): DirectoryEntry {
  if (!existing) return incoming;
  return {
    ...incoming,
    status: existing.status === 'active' ? incoming.status : existing.status,
    certificatePem: incoming.certificatePem ?? existing.certificatePem,
    pgpPublicKey: incoming.pgpPublicKey ?? existing.pgpPublicKey,
    source: existing.source === 'local' ? 'local' : incoming.source,
    updatedAt: existing.updatedAt,
  };
}

/** The health directory: who may send, with which identity and keys. */
export class DirectoryService {
  constructor(private readonly store: Store, private readonly audit: AuditTrail, private readonly gatewayDomain: string) {}

  private async upsertAll(entries: DirectoryEntry[], report: ImportReport): Promise<void> {
    for (const e of entries) {
      const existing = await this.store.directory.get(e.address);
      const merged = mergeImported(e, existing);
      const outcome = await this.store.directory.upsert(existing ? { ...merged, updatedAt: new Date().toISOString() } : merged);
      report[outcome]++;
    }
  }

  async importAnsFile(file: string, actor = 'operator'): Promise<ImportReport> {
    const parsed = parseAnsExtraction(readText(file));
    const report: ImportReport = { inserted: 0, updated: 0, unchanged: 0, rejected: parsed.rejected };
    await this.upsertAll(parsed.entries, report);
    await this.audit.record({
      actor, action: 'directory.import', outcome: 'ok',
      details: { format: 'ans', inserted: report.inserted, updated: report.updated, unchanged: report.unchanged, rejected: report.rejected.length },
    });
    return report;
  }

  async importWhitelistFile(file: string, actor = 'operator'): Promise<{ domains: number; added: number; removed: number; kept: number }> {
    const domains = parseWhitelist(readText(file));
    const res = await this.store.directory.replaceWhitelist(domains);
    await this.audit.record({ actor, action: 'directory.whitelist.import', outcome: 'ok', details: { domains: domains.length, ...res } });
    return { domains: domains.length, ...res };
  }

  async exportLocal(extra: { filingKeyArmored?: string; gatewayCertificatePem?: string }): Promise<string> {
    const entries = (await this.store.directory.list({ domain: this.gatewayDomain })).filter((e) => e.source === 'local');
    const recordServers = (await this.store.accounts.list()).filter((a) => a.kind === 'rmp').map((a) => a.address);
    return buildDirectoryExport({ gatewayDomain: this.gatewayDomain, entries, recordServers, ...extra });
  }

  /**
   * Whether an address is a record server (RMP): a local account of kind rmp, or one a peer gateway
   * declared in its export. Mail to a record server must name its patient.
   */
  async isRecordServer(address: string): Promise<boolean> {
    const a = address.trim().toLowerCase();
    const account = await this.store.accounts.get(a);
    if (account) return account.kind === 'rmp';
    return (await this.store.settings.get(`recordServer:${a}`)) === '1';
  }

  async importPeerFile(file: string, actor = 'operator'): Promise<ImportReport & { domain: string }> {
    const parsed = parseDirectoryExport(readText(file), {});
    if (parsed.gateway.domain === this.gatewayDomain) {
      throw new MedgateError('PEER_IS_SELF', `this export comes from this gateway's own domain (${this.gatewayDomain}); import it on the other gateway`);
    }
    const report: ImportReport = { inserted: 0, updated: 0, unchanged: 0, rejected: parsed.rejected };
    await this.upsertAll(parsed.entries, report);
    if (parsed.gateway.filingKey) await this.store.settings.set(`peer.${parsed.gateway.domain}.filingKey`, parsed.gateway.filingKey);
    if (parsed.gateway.certificate) await this.store.settings.set(`peer.${parsed.gateway.domain}.certificate`, parsed.gateway.certificate);
    for (const rmp of parsed.gateway.recordServers ?? []) await this.store.settings.set(`recordServer:${rmp}`, '1');
    await this.audit.record({
      actor, action: 'directory.peer.import', outcome: 'ok',
      details: { peer: parsed.gateway.domain, inserted: report.inserted, updated: report.updated, unchanged: report.unchanged, rejected: report.rejected.length },
    });
    return { ...report, domain: parsed.gateway.domain };
  }

  /** Looks an entry up by address, RPPS/ADELI/FINESS or national id. */
  async find(query: string): Promise<DirectoryEntry[]> {
    if (query.includes('@')) {
      const e = await this.store.directory.get(query);
      return e ? [e] : [];
    }
    return this.store.directory.findByIdentifier(query.trim());
  }

  /** The entry of one address, if any. */
  lookup(address: string): Promise<DirectoryEntry | undefined> {
    return this.store.directory.get(address);
  }

  /** Whether an address may send through medgate now. */
  async senderStatus(address: string): Promise<SenderStatus> {
    const entry = await this.store.directory.get(address);
    if (!entry) return { ok: false, reason: 'unknown' };
    if (entry.status !== 'active') return { ok: false, reason: entry.status, entry };
    return { ok: true, entry };
  }

  async isDomainAllowed(domain: string): Promise<boolean> {
    return domain.toLowerCase() === this.gatewayDomain || this.store.directory.isWhitelisted(domain);
  }

  async peerFilingKey(domain: string): Promise<string | undefined> {
    return this.store.settings.get(`peer.${domain.toLowerCase()}.filingKey`);
  }

  async setStatus(address: string, status: DirectoryEntry['status'], actor = 'operator'): Promise<void> {
    if (!(await this.store.directory.setStatus(address, status))) throw new MedgateError('DIRECTORY_UNKNOWN', `no directory entry for ${address}`);
    await this.audit.record({ actor, action: 'directory.status', outcome: 'ok', details: { address: address.toLowerCase(), status } });
  }
}
