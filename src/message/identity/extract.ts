/**
 * Patient identity of a message from every source present, most trusted first:
 * XDM metadata > explicit header fields > HPRIM header > subject tag.
 * Sources that disagree are reported as conflicts, never merged; the chosen patient is the most
 * trusted source, and filing decides what to do with a conflict (the "to reconcile" list).
 */
import type { ExtractionInput } from '../parse.js';
import { readMssInsFlag, readPatientHeaders } from './header-fields.js';
import type { HprimDocument } from './hprim.js';
import { findHprimDocuments } from './hprim-source.js';
import { normalizeName, patientKey } from './names.js';
import { readSubjectTag } from './subject-tag.js';
import type { IdentityConflict, PatientIdentity, RejectedSource } from './types.js';
import { readXdm, type XdmContent, type XdmOptions } from './xdm.js';

export interface PatientExtraction {
  /** The most trusted identity found (present even when there are conflicts). */
  patient?: PatientIdentity;
  /** Every distinct identity found, most trusted first. */
  sources: PatientIdentity[];
  conflicts: IdentityConflict[];
  /** Sources present but refused (invalid date, unreadable name...). */
  rejected: RejectedSource[];
  /** What `X-MSS-INS` said (O → true, N → false); informative only. */
  mssInsFlag?: boolean;
  /** Parsed XDM archive, for classification (avoids unzipping twice). */
  xdm?: XdmContent;
  /** HPRIM documents found, for classification and lab results. */
  hprim: HprimDocument[];
}

export type ExtractOptions = XdmOptions;

export function extractPatientIdentity(input: ExtractionInput, options: ExtractOptions = {}): PatientExtraction {
  const now = options.now;
  const sources: PatientIdentity[] = [];
  const rejected: RejectedSource[] = [];

  const xdm = readXdm(input, options);
  if (xdm) {
    sources.push(...xdm.patients);
    rejected.push(...xdm.rejected);
  }
  const header = readPatientHeaders(input.headers, now);
  if (header && 'identity' in header) sources.push(header.identity);
  else if (header) rejected.push(header.rejected);

  const hprim = findHprimDocuments(input, now);
  for (const doc of hprim) for (const section of doc.sections) addDistinct(sources, section.patient);

  const subject = readSubjectTag(input.subject, now);
  if (subject && 'identity' in subject) sources.push(subject.identity);
  else if (subject) rejected.push(subject.rejected);

  const result: PatientExtraction = { sources, conflicts: findConflicts(sources), rejected, hprim };
  if (sources[0]) result.patient = sources[0];
  const flag = readMssInsFlag(input.headers);
  if (flag !== undefined) result.mssInsFlag = flag;
  if (xdm) result.xdm = xdm;
  return result;
}

/** The same HPRIM patient in the body and in an attachment is one source, not two. */
function addDistinct(list: PatientIdentity[], p: PatientIdentity): void {
  const same = list.some((q) => q.source === p.source && patientKey(q) === patientKey(p) && q.nir === p.nir);
  if (!same) list.push(p);
}

type ConflictField = IdentityConflict['field'];

const COMPARED: Array<[ConflictField, (p: PatientIdentity) => string | undefined]> = [
  ['familyName', (p) => normalizeName(p.familyName)],
  ['givenName', (p) => normalizeName(p.givenName)],
  ['birthDate', (p) => p.birthDate],
  // U means "unknown": it does not contradict M or F.
  ['sex', (p) => (p.sex === 'M' || p.sex === 'F' ? p.sex : undefined)],
  ['ins', (p) => (p.ins ? `${p.ins.oid}|${p.ins.value}` : undefined)],
];

export function findConflicts(sources: PatientIdentity[]): IdentityConflict[] {
  const labels = labelSources(sources);
  const conflicts: IdentityConflict[] = [];
  for (const [field, valueOf] of COMPARED) {
    const withValue = sources.map((s, i) => ({ label: labels[i] ?? s.source, value: valueOf(s) })).filter((x) => x.value !== undefined);
    if (new Set(withValue.map((x) => x.value)).size > 1) {
      conflicts.push({ field, sources: withValue.map((x) => x.label) });
    }
  }
  return conflicts;
}

/** `hprim`, or `hprim#1`, `hprim#2` when one source type gave several identities. */
function labelSources(sources: PatientIdentity[]): string[] {
  const totals = new Map<string, number>();
  for (const s of sources) totals.set(s.source, (totals.get(s.source) ?? 0) + 1);
  const seen = new Map<string, number>();
  return sources.map((s) => {
    const n = (seen.get(s.source) ?? 0) + 1;
    seen.set(s.source, n);
    return (totals.get(s.source) ?? 0) > 1 ? `${s.source}#${n}` : s.source;
  });
}
