/**
 * Wraps one document in a CDA R2 document with a non-structured body (level 1, "N1"), as the CI-SIS
 * asks of a PDF or a text sent for integration into a patient record (issue 28 item 3): the header
 * of the "Volet Structuration minimale des documents de santé", the document itself base64-encoded
 * in `component/nonXMLBody/text`.
 *
 * Sources (public): the ANS example ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml and the ART-DECOR
 * schematron of template 1.2.250.1.213.1.1.1.1 (schematrons/profils/structurationMinimale/include/
 * 1.2.250.1.213.1.1.1.1-2017-12-13T103531.sch), both in ansforge/TestContenuCDA-3-0; element order
 * from the CDA R2 schema (POCD_MT000040). What they ask and what medgate writes:
 * - realmCode FR; typeId 2.16.840.1.113883.1.3/POCD_HD000040; exactly three templateIds for an N1:
 *   HL7 France 2.16.840.1.113883.2.8.2.1, CI-SIS 1.2.250.1.213.1.1.1.1, IHE XDS-SD 1.3.6.1.4.1.19376.1.2.20;
 * - id (the XDS uniqueId of the entry), code from JDV_J07 (document-codes.ts), title, effectiveTime,
 *   confidentialityCode N, languageCode fr-FR, setId, versionNumber 1;
 * - recordTarget: with an INS, `id` root = the INS OID (NIR 1.2.250.1.213.1.4.8, NIA …4.9, test …4.10,
 *   demo …4.11) and the birth name and first given name qualified BR, birth date and sex. The CI-SIS
 *   also asks the birth place (COG) with an INS: medgate is never told it, so it is not written.
 *   Without an INS the CI-SIS expects the sender's local patient id (IPP): medgate knows none, the id
 *   is `nullFlavor="UNK"` and the traits identify the patient;
 * - author: the sender from the directory (national id under 1.2.250.1.71.4.2.1, profession/specialty
 *   as the JDV_J01-XdsAuthorSpecialty code `G15_<profession>[/<specialty>]`, system
 *   1.2.250.1.213.1.1.4.5, name, organisation);
 * - custodian: the practice whose gateway holds the document (the sender's organisation, else the
 *   gateway's domain); medgate has no FINESS/SIRET for it, so its id is `nullFlavor="UNK"`;
 * - legalAuthenticator (mandatory in the CI-SIS, signatureCode S): the sender. He signed in to his
 *   gateway and chose to send this document under his name to a named recipient: that act is his
 *   authentication of it, which is what legalAuthenticator states (not a cryptographic signature);
 * - documentationOf/serviceEvent (mandatory): the act documented, performed by the sender; its date is
 *   unknown to medgate (`low nullFlavor="UNK"`), as are the practice setting and the healthcare
 *   facility of componentOf/encompassingEncounter (mandatory too), written `nullFlavor="UNK"`.
 * Text is escaped in one place, fast-xml-parser's XMLBuilder (attributes and text).
 */
import { XMLBuilder } from 'fast-xml-parser';
import type { DocumentType } from '../classify/index.js';
import { AUTHOR_SPECIALTY_SYSTEM, authorSpecialty, LOINC, typeCodeOf, type CodedValue } from './document-codes.js';
import type { PatientIdentity } from './types.js';
import type { XdmAuthor } from './xdm-writer.js';

export const CDA_TEMPLATE_IDS = ['2.16.840.1.113883.2.8.2.1', '1.2.250.1.213.1.1.1.1', '1.3.6.1.4.1.19376.1.2.20'] as const;
/** Identifiant national des professionnels de santé (RPPS `8…`, ADELI `0…`). */
export const NATIONAL_PS_ID_ROOT = '1.2.250.1.71.4.2.1';

/** The author as the directory knows it: the same facts the XDM metadata carries. */
export type CdaAuthor = XdmAuthor;

export interface CdaN1Input {
  /** OID (or `2.25.<uuid>`) of this document: the XDS uniqueId of its entry. */
  id: string;
  setId: string;
  type: DocumentType;
  title: string;
  /** An N1 media type (document-codes.ts n1MediaType). */
  mediaType: string;
  content: Buffer;
  patient: Pick<PatientIdentity, 'familyName' | 'givenName' | 'birthDate' | 'sex' | 'ins'>;
  author: CdaAuthor;
  custodian: string;
  time: Date;
}

export interface WrittenCda {
  xml: string;
  code: CodedValue;
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_', format: true, suppressEmptyNode: true });

type Node = Record<string, unknown>;

/** HL7 TS with its offset (the CI-SIS asks for one on times): UTC. */
export function cdaTime(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
}

const UNKNOWN = { '@_nullFlavor': 'UNK' };

const GENDERS: Record<'M' | 'F' | 'U', string> = { M: 'Masculin', F: 'Féminin', U: 'Inconnu' };

function patientRole(p: CdaN1Input['patient']): Node {
  const id = p.ins ? { '@_root': p.ins.oid, '@_extension': p.ins.value } : UNKNOWN;
  const gender = p.sex
    ? { '@_code': p.sex, '@_displayName': GENDERS[p.sex], '@_codeSystem': '2.16.840.1.113883.5.1' }
    : UNKNOWN;
  return {
    id,
    patient: {
      '@_classCode': 'PSN',
      name: { family: { '@_qualifier': 'BR', '#text': p.familyName }, given: { '@_qualifier': 'BR', '#text': p.givenName } },
      administrativeGenderCode: gender,
      birthTime: { '@_value': p.birthDate.replace(/-/g, '') },
    },
  };
}

/** The directory's name; an entry without one (an organisation's mailbox) has an unknown name, not an invented one. */
function personName(a: CdaAuthor): Node {
  if (!a.familyName) return { name: UNKNOWN };
  return { name: { family: a.familyName, ...(a.givenName ? { given: a.givenName } : {}) } };
}

function personId(a: CdaAuthor): Node {
  const id = (a.nationalId ?? '').trim();
  return id ? { '@_root': NATIONAL_PS_ID_ROOT, '@_extension': id } : UNKNOWN;
}

function authorCode(a: CdaAuthor): Node | undefined {
  const value = authorSpecialty(a);
  return value ? { '@_code': value.code, '@_displayName': value.displayName, '@_codeSystem': AUTHOR_SPECIALTY_SYSTEM } : undefined;
}

function organisation(a: CdaAuthor): Node {
  return a.organisation ? { representedOrganization: { name: a.organisation } } : {};
}

export function writeCdaN1(input: CdaN1Input): WrittenCda {
  const code = typeCodeOf(input.type);
  const time = cdaTime(input.time);
  const a = input.author;
  const specialty = authorCode(a);
  const entity = { id: personId(a), assignedPerson: personName(a) };
  const doc = {
    '?xml': { '@_version': '1.0', '@_encoding': 'UTF-8' },
    ClinicalDocument: {
      '@_xmlns': 'urn:hl7-org:v3',
      realmCode: { '@_code': 'FR' },
      typeId: { '@_root': '2.16.840.1.113883.1.3', '@_extension': 'POCD_HD000040' },
      templateId: CDA_TEMPLATE_IDS.map((root) => ({ '@_root': root })),
      id: { '@_root': input.id },
      code: { '@_code': code.code, '@_displayName': code.displayName, '@_codeSystem': LOINC, '@_codeSystemName': 'LOINC' },
      title: input.title,
      effectiveTime: { '@_value': time },
      confidentialityCode: { '@_code': 'N', '@_displayName': 'Normal', '@_codeSystem': '2.16.840.1.113883.5.25' },
      languageCode: { '@_code': 'fr-FR' },
      setId: { '@_root': input.setId },
      versionNumber: { '@_value': '1' },
      recordTarget: { patientRole: patientRole(input.patient) },
      author: {
        time: { '@_value': time },
        assignedAuthor: { id: personId(a), ...(specialty ? { code: specialty } : {}), assignedPerson: personName(a), ...organisation(a) },
      },
      custodian: { assignedCustodian: { representedCustodianOrganization: { id: UNKNOWN, name: input.custodian } } },
      legalAuthenticator: { time: { '@_value': time }, signatureCode: { '@_code': 'S' }, assignedEntity: entity },
      documentationOf: {
        serviceEvent: {
          effectiveTime: { low: UNKNOWN },
          performer: { '@_typeCode': 'PRF', assignedEntity: { ...entity, ...organisation(a) } },
        },
      },
      componentOf: {
        encompassingEncounter: { effectiveTime: UNKNOWN, location: { healthCareFacility: { code: UNKNOWN } } },
      },
      component: { nonXMLBody: { text: { '@_mediaType': input.mediaType, '@_representation': 'B64', '#text': input.content.toString('base64') } } },
    },
  };
  return { xml: builder.build(doc) as string, code };
}
