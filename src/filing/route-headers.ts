/**
 * Reads the clear `X-Medgate-Route-*` fields a gateway puts above the sealed bytes of each message a
 * record-server account fetches (docs/record-server.md). Enough to file an item without any key.
 */
import { decodeEncodedWords } from '../message/identity/encoded-words.js';
import { normalizeName } from '../message/identity/index.js';
import { tabOf, type Tab } from './tabs.js';

export interface ClearRouting {
  verified: { signer: string; fingerprint: string } | null;
  messageId: string | null;
  patient: { familyName: string; givenName: string; birthDate: string; sex?: string; ins?: { value: string; oid: string } } | null;
  document: { type: string; date: string; title?: string };
  documents: Array<{ part: string; type: string; title?: string }>;
  sender: { address: string; nationalId?: string; profession?: string; role?: string };
}

/** Unfolded header fields of a message (name lower-cased → values in order). */
export function headerFields(raw: Buffer): Map<string, string[]> {
  let end = raw.indexOf('\r\n\r\n');
  if (end < 0) end = raw.indexOf('\n\n');
  const head = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  const out = new Map<string, string[]>();
  for (const line of head.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = Buffer.from(line.slice(i + 1).trim(), 'latin1').toString('utf8');
    out.set(name, [...(out.get(name) ?? []), value]);
  }
  return out;
}

/** The route fields, or undefined when the message carries none (e.g. an unreadable-message placeholder). */
export function readClearRouting(raw: Buffer): ClearRouting | undefined {
  const h = headerFields(raw);
  const get = (n: string): string | undefined => {
    const v = h.get(`x-medgate-route-${n}`)?.[0];
    return v === undefined ? undefined : decodeEncodedWords(v);
  };
  const type = get('document-type');
  const sender = get('sender');
  if (!type || !sender) return undefined;
  const verifiedField = get('verified');
  const vm = verifiedField && /^valid;\s*signer=([^;\s]+);\s*fingerprint=([0-9a-fA-F]+)/.exec(verifiedField);
  const family = get('patient-family');
  const given = get('patient-given');
  const birth = get('patient-birthdate');
  let patient: ClearRouting['patient'] = null;
  if (family && given && birth) {
    patient = { familyName: family, givenName: given, birthDate: birth };
    const sex = get('patient-sex');
    if (sex) patient.sex = sex;
    const ins = get('patient-ins');
    const im = ins && /^([^^]+)\^\^\^&([0-9.]+)&ISO$/.exec(ins);
    if (im) patient.ins = { value: im[1]!, oid: im[2]! };
  }
  let documents: ClearRouting['documents'] = [];
  const docs = get('documents');
  if (docs) {
    try {
      const parsed = JSON.parse(Buffer.from(docs, 'base64').toString('utf8')) as unknown;
      if (Array.isArray(parsed)) documents = parsed.filter((d): d is ClearRouting['documents'][number] => !!d && typeof d.part === 'string' && typeof d.type === 'string');
    } catch { /* a damaged list: file the message as one document */ }
  }
  const title = get('document-title');
  const nationalId = get('sender-id');
  const profession = get('sender-profession');
  const role = get('sender-role');
  return {
    verified: vm ? { signer: vm[1]!, fingerprint: vm[2]! } : null,
    messageId: get('message-id') ?? null,
    patient,
    document: { type, date: get('document-date') ?? '', ...(title ? { title } : {}) },
    documents,
    sender: { address: sender, ...(nationalId ? { nationalId } : {}), ...(profession ? { profession } : {}), ...(role ? { role } : {}) },
  };
}

/** Folder of a patient in a record server's tree: `INS-<matricule>`, else `NOM_PRENOM_AAAAMMJJ` (ASCII). */
export function patientFolderName(p: NonNullable<ClearRouting['patient']>): string {
  if (p.ins) return `INS-${p.ins.value.replace(/[^0-9A-Za-z]/g, '')}`;
  const part = (s: string) => normalizeName(s).replace(/[^A-Z0-9 ]/g, '').trim().replace(/ /g, '-');
  return `${part(p.familyName)}_${part(p.givenName)}_${p.birthDate.replace(/-/g, '')}`;
}

export function tabOfRouting(r: ClearRouting): Tab {
  return tabOf(r.document.type);
}
