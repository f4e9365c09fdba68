/**
 * IHE XDM `METADATA.XML` (ebXML SubmitObjectsRequest) → document entries and patient identities.
 * Each ExtrinsicObject is one document entry; its patient comes from the `sourcePatientInfo` slot
 * (HL7 v2 PID-3/5/7/8) and the `XDSDocumentEntry.patientId` external identifier.
 */
import { identityXmlParser } from './xml-parser.js';
import { MedgateError } from '../../errors.js';
import { isPlausibleBirthDate, parseHl7Date } from './dates.js';
import { XDM_METADATA_INVALID } from './errors.js';
import { parseInsCx } from './ins.js';
import { isPlausibleName } from './names.js';
import type { InsIdentifier, PatientIdentity, RejectedSource } from './types.js';

export interface XdmCode {
  code: string;
  codingScheme?: string;
  displayName?: string;
}

export interface XdmDocumentEntry {
  id: string;
  mimeType?: string;
  /** `URI` slot: the document's file name inside the SUBSET folder. */
  uri?: string;
  title?: string;
  classCode?: XdmCode;
  /** LOINC in practice. */
  typeCode?: XdmCode;
  /** HL7 DTM as written (`AAAAMMJJhhmmss`). */
  creationTime?: string;
  /** `authorPerson` of the entry's author (XCN): national id (`8`+RPPS) and name, as written. */
  author?: { id?: string; name?: string };
}

export interface XdmMetadata {
  entries: XdmDocumentEntry[];
  patients: PatientIdentity[];
  rejected: RejectedSource[];
}

const CLASS_CODE_SCHEME = 'urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a';
const TYPE_CODE_SCHEME = 'urn:uuid:f0306f51-975f-434e-a61c-c59651d33983';
const PATIENT_ID_SCHEME = 'urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427';

const ARRAY_ELEMENTS = new Set(['ExtrinsicObject', 'Slot', 'Value', 'Classification', 'ExternalIdentifier', 'LocalizedString']);

const parser = identityXmlParser((name) => ARRAY_ELEMENTS.has(name));

type Node = Record<string, unknown>;

export function parseXdmMetadata(xml: string, now?: Date): XdmMetadata {
  // Entity declarations are how XML parsers get blown up (billion laughs); metadata never needs them.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new MedgateError(XDM_METADATA_INVALID, 'XDM metadata refused: DOCTYPE/ENTITY declarations are not allowed');
  }
  let doc: unknown;
  try {
    doc = parser.parse(xml);
  } catch (err) {
    throw new MedgateError(XDM_METADATA_INVALID, 'XDM metadata is not well-formed XML', undefined, { cause: err });
  }
  const objects = collectExtrinsicObjects(doc);
  const result: XdmMetadata = { entries: [], patients: [], rejected: [] };
  for (const obj of objects) {
    result.entries.push(readEntry(obj));
    for (const p of readPatients(obj, result.rejected, now)) {
      if (!result.patients.some((q) => sameIdentity(p, q))) result.patients.push(p);
    }
  }
  if (objects.length === 0) {
    throw new MedgateError(XDM_METADATA_INVALID, 'XDM metadata has no document entry');
  }
  return result;
}

function collectExtrinsicObjects(doc: unknown): Node[] {
  const found: Node[] = [];
  // Walk instead of hard-coding the path: senders wrap the list differently (ProvideAndRegister…).
  const walk = (n: unknown, depth: number): void => {
    if (depth > 20 || n === null || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      for (const c of n) walk(c, depth + 1);
      return;
    }
    for (const [k, v] of Object.entries(n as Node)) {
      if (k === 'ExtrinsicObject' && Array.isArray(v)) {
        for (const o of v) if (o && typeof o === 'object') found.push(o as Node);
      } else if (!k.startsWith('@_')) walk(v, depth + 1);
    }
  };
  walk(doc, 0);
  return found;
}

function readEntry(obj: Node): XdmDocumentEntry {
  const entry: XdmDocumentEntry = { id: attr(obj, 'id') ?? '' };
  const mimeType = attr(obj, 'mimeType');
  if (mimeType) entry.mimeType = mimeType;
  const uri = slotValues(obj, 'URI')[0];
  if (uri) entry.uri = uri;
  const title = localizedName(obj);
  if (title) entry.title = title;
  const creationTime = slotValues(obj, 'creationTime')[0];
  if (creationTime) entry.creationTime = creationTime;
  for (const cl of nodes(obj['Classification'])) {
    const person = slotValues(cl, 'authorPerson')[0];
    if (person && !entry.author) entry.author = authorOf(person);
    const scheme = attr(cl, 'classificationScheme');
    const code = attr(cl, 'nodeRepresentation');
    if (!code) continue;
    const value: XdmCode = { code };
    const codingScheme = slotValues(cl, 'codingScheme')[0];
    if (codingScheme) value.codingScheme = codingScheme;
    const displayName = localizedName(cl);
    if (displayName) value.displayName = displayName;
    if (scheme === CLASS_CODE_SCHEME) entry.classCode = value;
    else if (scheme === TYPE_CODE_SCHEME) entry.typeCode = value;
  }
  return entry;
}

/** XCN `id^FAMILY^Given^...`: the id and a display name, when present. */
function authorOf(xcn: string): { id?: string; name?: string } {
  const [id, family, given] = xcn.split('^').map((s) => s.trim());
  const name = [given, family].filter(Boolean).join(' ');
  return { ...(id ? { id: id.slice(0, 40) } : {}), ...(name ? { name: name.slice(0, 120) } : {}) };
}

function readPatients(obj: Node, rejected: RejectedSource[], now?: Date): PatientIdentity[] {
  const pid = new Map<string, string>();
  for (const v of slotValues(obj, 'sourcePatientInfo')) {
    const bar = v.indexOf('|');
    if (bar > 0) pid.set(v.slice(0, bar).trim().toUpperCase(), v.slice(bar + 1));
  }
  const patientIdIns = externalPatientId(obj);
  if (pid.size === 0) {
    if (patientIdIns) rejected.push({ source: 'xdm', reason: 'document entry has a patient INS but no patient traits' });
    return [];
  }
  const name = pickName(pid.get('PID-5') ?? '');
  const birthDate = parseHl7Date(pid.get('PID-7') ?? '');
  if (!name || !isPlausibleName(name.family, 100) || !isPlausibleName(name.given, 100)) {
    rejected.push({ source: 'xdm', reason: 'sourcePatientInfo PID-5 name is missing or invalid' });
    return [];
  }
  if (!birthDate || !isPlausibleBirthDate(birthDate, now)) {
    rejected.push({ source: 'xdm', reason: 'sourcePatientInfo PID-7 birth date is missing or invalid' });
    return [];
  }
  const base: PatientIdentity = { source: 'xdm', familyName: name.family, givenName: name.given, birthDate };
  const sex = (pid.get('PID-8') ?? '').trim().toUpperCase();
  if (sex === 'M' || sex === 'F' || sex === 'U') base.sex = sex;

  const pid3Ins = (pid.get('PID-3') ?? '')
    .split('~')
    .map((cx) => parseInsCx(cx))
    .find((x): x is InsIdentifier => x !== undefined);
  const out: PatientIdentity[] = [];
  const primaryIns = pid3Ins ?? patientIdIns;
  out.push(primaryIns ? { ...base, ins: primaryIns } : base);
  // Two different INS in one entry: keep both so the conflict is reported, never pick one silently.
  if (pid3Ins && patientIdIns && (pid3Ins.value !== patientIdIns.value || pid3Ins.oid !== patientIdIns.oid)) {
    out.push({ ...base, ins: patientIdIns });
  }
  return out;
}

function externalPatientId(obj: Node): InsIdentifier | undefined {
  for (const ei of nodes(obj['ExternalIdentifier'])) {
    const isPatientId =
      attr(ei, 'identificationScheme') === PATIENT_ID_SCHEME || localizedName(ei) === 'XDSDocumentEntry.patientId';
    if (!isPatientId) continue;
    const ins = parseInsCx(attr(ei, 'value') ?? '');
    if (ins) return ins;
  }
  const slotId = slotValues(obj, 'sourcePatientId')[0];
  return slotId ? parseInsCx(slotId) : undefined;
}

/** PID-5 may repeat (`~`); the legal/birth name (type L) is the INS trait. */
function pickName(pid5: string): { family: string; given: string } | undefined {
  const reps = pid5.split('~').map((r) => r.split('^'));
  const chosen = reps.find((r) => (r[6] ?? '').trim().toUpperCase() === 'L') ?? reps[0];
  const family = (chosen?.[0] ?? '').trim();
  const given = (chosen?.[1] ?? '').trim();
  return family && given ? { family, given } : undefined;
}

function sameIdentity(a: PatientIdentity, b: PatientIdentity): boolean {
  return (
    a.familyName === b.familyName &&
    a.givenName === b.givenName &&
    a.birthDate === b.birthDate &&
    a.sex === b.sex &&
    a.ins?.value === b.ins?.value &&
    a.ins?.oid === b.ins?.oid
  );
}

function nodes(v: unknown): Node[] {
  if (Array.isArray(v)) return v.filter((x): x is Node => !!x && typeof x === 'object');
  return v && typeof v === 'object' ? [v as Node] : [];
}

function attr(n: Node, name: string): string | undefined {
  const v = n[`@_${name}`];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (v && typeof v === 'object' && '#text' in v) return text((v as Node)['#text']);
  return undefined;
}

function slotValues(n: Node, name: string): string[] {
  const slot = nodes(n['Slot']).find((s) => attr(s, 'name') === name);
  if (!slot) return [];
  const list = nodes(slot['ValueList'])[0];
  if (!list) return [];
  const values = Array.isArray(list['Value']) ? list['Value'] : [];
  return values.map(text).filter((x): x is string => x !== undefined);
}

function localizedName(n: Node): string | undefined {
  const name = nodes(n['Name'])[0];
  const ls = name ? nodes(name['LocalizedString'])[0] : undefined;
  return ls ? attr(ls, 'value') : undefined;
}
