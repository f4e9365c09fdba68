/**
 * Author and transmitter are different people (issue 30). A document's SENDER transmits it; its
 * AUTHOR wrote it. The rights matrix judges the author:
 *
 * - an author this gateway can verify — the lab of an HPRIM header whose code `filing.hprimLabs`
 *   maps to a directory address, the `authorPerson` of XDM metadata whose national id is in the
 *   directory, or the signer of a forwarded message (`message/rfc822`) whose S/MIME signature the
 *   sealing gateway verified (chain to the health PKI, CRLs, From in the certificate) and who is an
 *   active entry of this directory — is the document's author: filed under it, checked against its role;
 * - a document the sender wrote himself — the body, and any part with no named author of a type his
 *   role may author — is his: checked against his role, as before;
 * - anything else (a lab result or an imaging report attached by a GP, a named author this gateway
 *   cannot verify, a forwarded message whose signature does not verify or whose signer is not in the
 *   directory) is filed in the tab of its type, marked "transmitted by <sender>, author not
 *   verified": never refused for its author's rights, never shown as the sender's own — even when
 *   the sender's role could have authored that type.
 *
 * Pure over a directory lookup: the submission check, the relay check and filing all resolve the
 * same way, each against its own directory and configuration.
 */
import type { AuthorClaim } from '../message/classify/index.js';
import type { DirectoryEntry } from '../store/types.js';
import { checkRights, rightsRoleOf, type RightsConfig, type RightsDecision, type SenderForRights } from './rights.js';

export interface AuthorsConfig extends RightsConfig {
  /** HPRIM lab code (line 11's first word) → the directory address of that lab. */
  hprimLabs?: Record<string, string>;
}

/** What filing records of a document's author. */
export type DocumentAuthor =
  | { status: 'sender' }
  | { status: 'verified'; address: string; via: 'hprim' | 'xdm' | 'smime'; name?: string }
  | { status: 'unverified'; via?: string; name?: string };

export interface DocumentToJudge {
  part: string;
  type: string;
  author?: AuthorClaim | { source: string; id?: string; name?: string } | undefined;
}

export interface AuthorDirectory {
  lookup(address: string): Promise<DirectoryEntry | undefined>;
  find(identifier: string): Promise<DirectoryEntry[]>;
}

/** The entry a claim names, when this gateway can verify it; else undefined. */
async function verifiedEntry(claim: NonNullable<DocumentToJudge['author']>, dir: AuthorDirectory, config: AuthorsConfig): Promise<DirectoryEntry | undefined> {
  if (claim.source === 'hprim' && claim.id) {
    const address = config.hprimLabs?.[claim.id.toUpperCase()] ?? config.hprimLabs?.[claim.id];
    const entry = address ? await dir.lookup(address.toLowerCase()) : undefined;
    return entry?.status === 'active' ? entry : undefined;
  }
  if (claim.source === 'xdm' && claim.id && /^[0-9A-Za-z]{6,20}$/.test(claim.id)) {
    const found = (await dir.find(claim.id)).filter((e) => e.status === 'active' && e.mailboxType === 'PER');
    return found.length === 1 ? found[0] : undefined;
  }
  // The sealing gateway verified the forwarded message's S/MIME signature and names its signer;
  // this gateway's directory must list that signer as active.
  if (claim.source === 'smime' && claim.id) {
    const entry = await dir.lookup(claim.id.toLowerCase());
    return entry?.status === 'active' ? entry : undefined;
  }
  return undefined;
}

/**
 * Whether an unverifiable claim still names the sender himself: an XDM author with his own national
 * id (the sender is authenticated, the id is his). An HPRIM lab code names no one until
 * `filing.hprimLabs` maps it (a lab's own code mapped to its own address is verified).
 */
function claimIsSenders(claim: NonNullable<DocumentToJudge['author']>, sender: SenderForRights & { nationalId?: string | null }): boolean {
  if (claim.source === 'xdm') return !!claim.id && !!sender.nationalId && claim.id === sender.nationalId;
  return false;
}

export interface JudgedDocument {
  part: string;
  type: string;
  author: DocumentAuthor;
  /** The rights decision of the author when it is the sender or verified; none when unverified. */
  decision?: RightsDecision;
}

/** Resolves each document's author and the rights decision that applies to it. */
export async function judgeDocuments(sender: SenderForRights & { nationalId?: string | null }, documents: DocumentToJudge[], dir: AuthorDirectory, config: AuthorsConfig = {}): Promise<JudgedDocument[]> {
  const out: JudgedDocument[] = [];
  for (const d of documents) {
    if (d.author) {
      const entry = await verifiedEntry(d.author, dir, config);
      if (entry) {
        const via = d.author.source === 'hprim' ? 'hprim' : d.author.source === 'smime' ? 'smime' : 'xdm';
        const name = [entry.givenName, entry.familyName].filter(Boolean).join(' ') || entry.organisation || undefined;
        out.push({ part: d.part, type: d.type, author: { status: 'verified', address: entry.address, via, ...(name ? { name } : {}) }, decision: checkRights(entry, d.type, config) });
        continue;
      }
    }
    const own = checkRights(sender, d.type, config);
    if (d.author && !claimIsSenders(d.author, sender)) {
      // A named author this gateway cannot verify: the sender transmits it, whatever his own role allows.
      // A signer whose signature verified but who is not (or no longer) in this directory is still named.
      const name = d.author.name ?? (d.author.source === 'smime' ? d.author.id : undefined);
      out.push({ part: d.part, type: d.type, author: { status: 'unverified', via: d.author.source, ...(name ? { name } : {}) } });
      continue;
    }
    if (d.part === 'body' || own.ok) {
      out.push({ part: d.part, type: d.type, author: { status: 'sender' }, decision: own });
    } else {
      out.push({ part: d.part, type: d.type, author: { status: 'unverified' } });
    }
  }
  return out;
}

/** The first refusal among judged documents, or an accepted decision for the sender. */
export function firstRefusal(sender: SenderForRights, judged: JudgedDocument[], config: AuthorsConfig = {}): RightsDecision {
  for (const j of judged) if (j.decision && !j.decision.ok) return j.decision;
  return { ok: true, role: rightsRoleOf(sender, config) };
}

/** Who a document is filed under: its verified author, else its sender (who may only have transmitted it). */
export function writerOf(author: DocumentAuthor | null | undefined, sender: string): string {
  return author?.status === 'verified' ? author.address : sender;
}

const VERIFIED_FROM: Readonly<Record<'hprim' | 'xdm' | 'smime', string>> = {
  hprim: 'the HPRIM header', xdm: 'the XDM metadata', smime: 'the forwarded message\'s signature',
};

/** The mark shown beside a document (console, API, `patients show`, export, route fields). */
export function authorMark(author: DocumentAuthor | null | undefined, sender: string): string {
  if (!author || author.status === 'sender') return `author: ${sender}`;
  if (author.status === 'verified') return `author: ${author.name ? `${author.name} <${author.address}>` : author.address} (verified from ${VERIFIED_FROM[author.via] ?? 'the XDM metadata'}), transmitted by ${sender}`;
  return `transmitted by ${sender}, author not verified${author.name ? ` (names ${author.name})` : ''}`;
}
