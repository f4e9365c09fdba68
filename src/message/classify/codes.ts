import type { Signal } from './types.js';

/**
 * Document type codes → document type. Source: ANS, Terminologies de Santé, jeu de valeurs
 * JDV_J07-XdsTypeCode-CISIS (OID 1.2.250.1.213.1.1.5.471: the LOINC codes and TRE_A05 codes the
 * DMP and MSSanté use as XDS typeCode), plus the LOINC codes older senders still write (11524-6 EKG
 * study, 11526-1 pathology study, 18842-5 discharge summary, 11504-8 surgical operation note, 60567-5).
 * The French label is kept beside each code: it is also what many senders put in the title.
 */
const CODES: ReadonlyArray<[string, Signal['type'], string]> = [
  // Summaries (the patient's medical summary, VSM).
  ['60591-5', 'summary', 'Synthèse médicale'],
  ['SYNTH', 'summary', 'Synthèse'],
  ['DOCPAT01', 'summary', 'Synthèse déposée par le patient'],
  ['DOCPAT08', 'summary', 'Profil médical Mon espace santé'],
  // Consultations and assessments.
  ['11488-4', 'consultation-report', 'CR ou fiche de consultation ou de visite'],
  ['34749-2', 'consultation-report', 'CR de consultation pré-anesthésique'],
  ['78513-9', 'consultation-report', 'CR de consultation en ophtalmologie'],
  ['85208-7', 'consultation-report', 'CR de télémédecine'],
  ['93024-8', 'consultation-report', 'CR de consultation pharmaceutique'],
  ['78601-2', 'consultation-report', "CR d'entretien pharmaceutique"],
  ['34794-8', 'consultation-report', 'CR de réunion de concertation pluridisciplinaire'],
  ['34120-6', 'consultation-report', 'Bilan par professionnel de santé'],
  ['83901-9', 'consultation-report', 'Bilan psychologique'],
  ['28617-9', 'consultation-report', 'Bilan bucco-dentaire'],
  ['11506-3', 'consultation-report', 'CR ou fiche de suivi de soins par auxiliaire médical'],
  ['96163-1', 'consultation-report', 'Bilan de soins infirmiers'],
  ['59283-2', 'consultation-report', "CR d'examen de l'enfant"],
  ['68814-3', 'consultation-report', "Note d'évaluation pédiatrique"],
  ['68817-6', 'consultation-report', "Bilan de santé et de prévention de l'enfant"],
  ['97694-4', 'consultation-report', "Note d'évaluation en médecine maternelle et fœtale"],
  ['89233-1', 'consultation-report', 'CR de grossesse'],
  ['57055-6', 'consultation-report', 'Synthèse antepartum'],
  ['68599-0', 'consultation-report', 'Synthèse psychiatrique'],
  ['DOCPAT03', 'consultation-report', 'CR déposé par le patient'],
  // Stays: hospital reports, discharge letters, emergencies, births.
  ['34112-3', 'hospital-report', 'CR hospitalier (séjour)'],
  ['11490-0', 'hospital-report', "Lettre de liaison à la sortie d'un établissement de soins"],
  ['18842-5', 'hospital-report', 'Lettre de sortie (LOINC: Discharge summary)'],
  ['34133-9', 'hospital-report', "Synthèse d'épisode de soins"],
  ['15507-7', 'hospital-report', 'CR de passage aux urgences'],
  ['60280-5', 'hospital-report', 'Fiche de retour du service des urgences'],
  ['67851-6', 'hospital-report', "CR d'admission"],
  ['15508-5', 'hospital-report', "CR d'accouchement"],
  ['57057-2', 'hospital-report', 'Synthèse Salle de Naissance Mère'],
  ['57075-4', 'hospital-report', 'Synthèse Salle de Naissance Enfant'],
  ['78489-2', 'hospital-report', 'Synthèse Enfant en Maternité'],
  ['89235-6', 'hospital-report', 'Synthèse Suites de Couches Mère'],
  ['83981-1', 'hospital-report', "Lettre de liaison à la sortie d'une structure sociale ou médico-sociale"],
  // Operations, anaesthesia, therapeutic acts.
  ['34874-8', 'operative-report', 'CR opératoire'],
  ['11504-8', 'operative-report', 'CR opératoire (LOINC: Surgical operation note)'],
  ['77436-4', 'operative-report', "CR d'anesthésie"],
  ['34875-5', 'operative-report', 'Évaluation postopératoire et note de suivi'],
  ['34876-3', 'operative-report', 'Évaluation préopératoire et note de suivi'],
  ['11505-5', 'operative-report', "CR d'acte thérapeutique (autre)"],
  ['75482-0', 'operative-report', "CR d'acte thérapeutique à visée préventive"],
  // Diagnostic acts: ECG, EFR, endoscopies, function tests.
  ['70004-7', 'exam-report', "CR d'acte diagnostique (autre)"],
  ['47420-5', 'exam-report', 'CR de bilan fonctionnel'],
  ['75492-9', 'exam-report', "CR d'acte diagnostique à visée préventive ou de dépistage"],
  ['11524-6', 'exam-report', "CR d'électrocardiogramme (LOINC: EKG study)"],
  ['29274-8', 'exam-report', 'Mesures de signes vitaux'],
  ['100967-9', 'exam-report', 'Rythme cardiaque fœtal'],
  ['96173-0', 'exam-report', "Test rapide d'orientation diagnostique"],
  // Pathology.
  ['60568-3', 'pathology-report', "CR d'anatomie et de cytologie pathologiques"],
  ['60567-5', 'pathology-report', "CR d'anatomie et de cytologie pathologiques"],
  ['11526-1', 'pathology-report', "CR d'anatomie pathologique (LOINC: Pathology study)"],
  // Biology.
  ['11502-2', 'biology', "CR d'examens biologiques"],
  ['51969-4', 'biology', 'CR de génétique moléculaire'],
  ['DOCPAT05', 'biology', 'CR de biologie déposé par le patient'],
  // Imaging.
  ['18748-4', 'imaging', "CR d'imagerie médicale"],
  ['IMG-KOS', 'imaging', "Référence d'objets d'un examen d'imagerie"],
  ['52040-3', 'imaging', "Document encapsulant une image d'illustration non DICOM"],
  ['DOCPAT04', 'imaging', 'Imagerie déposée par le patient'],
  // Prescriptions and requests.
  ['57833-6', 'prescription', 'Prescription de produits de santé'],
  ['57828-6', 'prescription', 'Prescription (autre)'],
  ['57832-8', 'prescription', 'Prescription de soins'],
  ['55115-0', 'prescription', "Demande d'actes d'imagerie"],
  ['75468-9', 'prescription', 'Renouvellement ordonnance par pharmacien correspondant'],
  ['PRESC-AAT', 'prescription', 'Prescription arrêt de travail'],
  ['PRESC-BIO', 'prescription', "Prescription d'actes de biologie médicale"],
  ['PRESC-KINE', 'prescription', "Prescription d'actes de kinésithérapie"],
  ['PRESC-INF', 'prescription', "Prescription d'actes infirmiers"],
  ['PRESC-PEDI', 'prescription', "Prescription d'actes de pédicurie"],
  ['PRESC-ORTHOPHO', 'prescription', "Prescription d'actes d'orthophonie"],
  ['PRESC-ORTHOPTIE', 'prescription', "Prescription d'actes d'orthoptie"],
  ['DOCPAT02', 'prescription', 'Traitement ou document de soins déposé par le patient'],
  // Certificates, declarations, vaccination records.
  ['89601-9', 'certificate', 'Certificat médical'],
  ['CERT_DECL', 'certificate', 'Certificat, déclaration'],
  ['DOCPAT07', 'certificate', 'Certificat déposé par le patient'],
  ['86531-1', 'certificate', 'Attestation de sortie'],
  ['59284-0', 'certificate', 'Attestation de consentement'],
  ['55751-2', 'certificate', 'Déclaration de problème de santé publique'],
  ['11369-6', 'certificate', 'Historique des vaccinations'],
  ['87273-9', 'certificate', 'Note de vaccination'],
  ['96874-3', 'certificate', 'COVID-19 Attestation de vaccination'],
  ['PROT_ALD', 'certificate', 'Protocole de soins ALD'],
  ['EXPPAT_3', 'certificate', 'Directives anticipées'],
  // Letters between professionals.
  ['96349-6', 'letter', "Lettre d'adressage"],
  ['18761-7', 'letter', "Note de transfert (dont lettre de liaison à l'entrée en établissement de soins)"],
  ['88348-8', 'letter', "Lettre de liaison d'entrée en structure sociale ou médico-sociale"],
  ['74207-2', 'letter', "Document de liaison d'urgence"],
  ['78341-5', 'letter', 'Fiche de transfert vers le service des urgences'],
  ['75496-0', 'letter', "Demande d'acte de télémédecine"],
  ['56446-8', 'letter', 'Notification de rendez-vous'],
];

export const LOINC_TYPES: Readonly<Record<string, Signal['type']>> = Object.freeze(Object.fromEntries(CODES.map(([code, type]) => [code, type])));

/** French label of a code (JDV_J07), for documentation and titles. */
export const TYPE_CODE_LABELS: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(CODES.map(([code, , label]) => [code, label])));

/** typeCode first (it is the precise one), then classCode when it happens to be LOINC. */
export function signalFromXdmCodes(typeCode?: string, classCode?: string): Signal | undefined {
  const byType = typeCode ? LOINC_TYPES[typeCode.trim()] : undefined;
  if (byType) return { type: byType, reason: `xdm typeCode ${typeCode}` };
  const byClass = classCode ? LOINC_TYPES[classCode.trim()] : undefined;
  if (byClass) return { type: byClass, reason: `xdm classCode ${classCode}` };
  return undefined;
}
