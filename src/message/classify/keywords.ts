/**
 * Keywords of subjects, titles, file names and first lines, in the clinical French of doctors and
 * practice software. Text is compared without accents, in lower case, with punctuation/underscores
 * as spaces, on whole words.
 *
 * Sources (named per wording in test/fixtures/classification-corpus.tsv): the French labels of
 * the ANS value set JDV_J07-XdsTypeCode-CISIS (DMP/MSSanté typeCodes) and their usual short forms
 * (CR, CRH, CRO, LLS, VSM, ECG, EFR, MAPA, FOGD…); the sections of the ANS "Volet de Synthèse
 * Médicale" (antécédents, allergies et intolérances, traitements, vaccinations); the content of the
 * lettre de liaison (décret n° 2016-955, HAS); the CCAM labels of diagnostic acts.
 *
 * Each phrase is strong (it names a kind of document: "compte rendu opératoire", "ECG"), weak (it
 * hints: "séjour", "antécédents") or generic (any report says it: "compte rendu", "résultats").
 * The earliest strong phrase of the text decides (the longest one at the same place: "lettre de
 * liaison de sortie" over "lettre"); only when there is none does the earliest weak one, then the
 * earliest generic one. A title says what it is first: "Courrier :
 * compte rendu d'échographie" is an imaging report, "CR de consultation avec ECG" a consultation.
 */
import { TYPE_CODE_LABELS, LOINC_TYPES } from './codes.js';
import type { DocumentType, Signal } from './types.js';

interface KeywordRule {
  type: DocumentType;
  strong: readonly string[];
  weak?: readonly string[];
  /** Weaker than weak: words any report carries ("compte rendu", "résultats"), read last. */
  generic?: readonly string[];
}

/**
 * Medical specialties as the ANS nomenclature (TRE_R38, spécialités ordinales) names them; matched
 * stemmed, so "cardiologie" also reads "cardiologique". Biology, pathology and imaging are kinds of
 * documents of their own above.
 */
const SPECIALTIES: readonly string[] = [
  'cardiologie', 'pneumologie', 'dermatologie', 'neurologie', 'rhumatologie', 'urologie', 'gynecologie', 'obstetrique', 'psychiatrie',
  'ophtalmologie', 'orl', 'oto rhino laryngologie', 'geriatrie', 'pediatrie', 'nephrologie', 'oncologie', 'cancerologie', 'endocrinologie',
  'diabetologie', 'gastro enterologie', 'gastroenterologie', 'hepatologie', 'allergologie', 'angiologie', 'medecine vasculaire',
  'addictologie', 'tabacologie', 'stomatologie', 'neurochirurgie', 'chirurgie orthopedique', 'chirurgie viscerale', 'chirurgie vasculaire',
  'medecine interne', 'maladies infectieuses', 'infectiologie', 'medecine physique et de readaptation', 'algologie', 'nutrition',
  'sage femme', 'kinesitherapie', 'orthophonie', 'orthoptie', 'podologie', 'dietetique', 'psychologie', 'medecine du travail',
  // Their usual short forms.
  'cardio', 'pneumo', 'dermato', 'neuro', 'rhumato', 'uro', 'gyneco', 'psy', 'ophtalmo', 'ophtalmo', 'onco', 'endocrino', 'gastro', 'nephro', 'geriatre',
];

export const KEYWORD_RULES: readonly KeywordRule[] = [
  {
    type: 'summary',
    strong: [
      'resume medical', 'resume de dossier', 'resume du dossier', 'synthese medicale', 'volet de synthese medicale', 'vsm', 'vms',
      'dossier de synthese', 'fiche de synthese', 'synthese du dossier', 'synthese', 'patient summary', 'profil medical',
    ],
    weak: [
      'resume', 'antecedents', 'atcd', 'antecedents medicaux', 'antecedents chirurgicaux', 'antecedents familiaux', 'allergies',
      'allergies et intolerances', 'intolerances', 'traitement en cours', 'traitements en cours', 'traitement au long cours',
      'traitements au long cours', 'traitement habituel', 'traitement de fond', 'vaccinations', 'facteurs de risque', 'problemes actifs',
    ],
  },
  {
    type: 'hospital-report',
    strong: [
      'compte rendu d hospitalisation', 'compte rendu hospitalisation', 'cr d hospitalisation', 'cr hospitalisation', 'crh',
      'lettre de liaison de sortie', 'lettre de liaison a la sortie', 'lettre de liaison sortie', 'lls', 'lettre de sortie',
      'compte rendu de sejour', 'cr de sejour', 'resume de sejour', 'synthese de sejour', 'synthese d episode de soins',
      'compte rendu de passage aux urgences', 'passage aux urgences', 'cr urgences', 'compte rendu des urgences', 'fiche de retour des urgences',
      'cr d accouchement', 'compte rendu d accouchement', 'compte rendu d admission', 'cr d admission', 'sortie d hospitalisation',
      'hospitalisation de jour', 'hopital de jour', 'hdj', 'cr hospitalier', 'compte rendu hospitalier', 'compte rendu sejour', 'cr sejour',
      'lettre de liaison', 'accouchement', 'cr accouchement',
      // The two documents the lettre de liaison de sortie replaced (ameli.fr, LLS 2025; HAS "document de sortie" 2014).
      'courrier de sortie', 'compte rendu de sortie', 'cr de sortie', 'document de sortie', 'fiche de sortie', 'synthese medicale du sejour',
      // ANS CI-SIS AVC volet (AUNV, EUNV, SUNV): the stroke unit's admission, episode and discharge forms.
      'unite neuro vasculaire', 'unv', 'sau', 'service d accueil des urgences', 'chirurgie ambulatoire', 'hospitalisation ambulatoire',
    ],
    weak: ['hospitalisation', 'sejour', 'urgences', 'sortie', 'admission', 'ambulatoire'],
  },
  {
    type: 'operative-report',
    strong: [
      'compte rendu operatoire', 'cr operatoire', 'cro', 'compte rendu d intervention', 'intervention chirurgicale',
      'compte rendu d anesthesie', 'cr d anesthesie', 'protocole operatoire', 'compte rendu d acte therapeutique',
      'cr d acte therapeutique', 'acte therapeutique', 'anesthesie', 'cr anesthesie',
      // "CR" for "compte rendu" as everywhere else (CRO, CRH): the short form of JDV_J07's "CR d'intervention".
      'cr d intervention', 'cr intervention', 'compte rendu intervention',
    ],
    // CCAM chapter 09 "Accouchement par césarienne" (JQGA…): a surgical act, whatever the stay around it.
    weak: ['operatoire', 'chirurgie', 'bloc operatoire', 'cesarienne'],
  },
  {
    type: 'pathology-report',
    strong: [
      'anatomopathologie', 'anatomopathologique', 'anatomo pathologie', 'anatomo pathologique', 'anatomie pathologique',
      'anatomie et cytologie pathologiques', 'anatomopathologiques', 'anatomo pathologiques', 'histologiques', 'cytologiques', 'cytologie pathologique', 'anapath', 'acp', 'histologie', 'histologique', 'histopathologie',
      'histopathologique', 'cytologie', 'cytologique', 'cytopathologie', 'examen extemporane', 'extemporane', 'immunohistochimie',
      'frottis cervico uterin', 'fcu', 'frottis cervical', 'piece operatoire', 'biopsie', 'biopsies',
    ],
  },
  {
    type: 'exam-report',
    strong: [
      'ecg', 'electrocardiogramme', 'electrocardiographie', 'ekg', 'holter', 'holter ecg', 'holter tensionnel', 'mapa',
      'mesure ambulatoire de la pression arterielle', 'automesure tensionnelle', 'epreuve d effort', 'test d effort', 'ecg d effort',
      'efr', 'epreuves fonctionnelles respiratoires', 'exploration fonctionnelle respiratoire', 'explorations fonctionnelles respiratoires',
      'spirometrie', 'plethysmographie', 'dlco', 'gazometrie', 'test de marche', 'polysomnographie', 'polygraphie ventilatoire',
      'polygraphie', 'oxymetrie nocturne', 'enregistrement du sommeil', 'endoscopie', 'fibroscopie', 'gastroscopie', 'fogd',
      'fibroscopie oeso gastro duodenale', 'coloscopie', 'rectoscopie', 'rectosigmoidoscopie', 'anuscopie', 'bronchoscopie',
      'fibroscopie bronchique', 'endoscopie bronchique', 'cystoscopie', 'nasofibroscopie', 'hysteroscopie', 'colposcopie',
      'capsule endoscopique', 'echoendoscopie', 'cpre', 'eeg', 'electroencephalogramme', 'electroencephalographie', 'emg',
      'electromyogramme', 'electromyographie', 'electroneuromyogramme', 'oct', 'tomographie en coherence optique retinienne', 'enmg', 'potentiels evoques', 'echocardiographie',
      'echographie cardiaque', 'echocardiogramme', 'ett', 'eto', 'doppler', 'echo doppler', 'echodoppler', 'doppler des troncs supra aortiques', 'echographie doppler',
      'doppler veineux', 'doppler arteriel', 'coronarographie', 'exploration electrophysiologique', 'tilt test', 'audiogramme',
      'audiometrie', 'tympanometrie', 'champ visuel', 'fond d oeil', 'retinographie', 'tomographie en coherence optique',
      'manometrie', 'manometrie oesophagienne', 'ph metrie', 'phmetrie', 'bilan urodynamique', 'debitmetrie', 'capillaroscopie',
      'compte rendu d examen', 'cr d examen', 'compte rendu d acte diagnostique', 'bilan fonctionnel', 'monitoring foetal',
      'rythme cardiaque foetal', 'rcf', 'trod', 'test rapide d orientation diagnostique', 'cr d acte diagnostique',
      'acte diagnostique', 'epreuve effort', 'test effort',
    ],
    // JDV_J07 29274-8 "Mesures de signes vitaux"; IPS-FR section "Constantes"; the CCAM's "Épreuve …" function tests.
    weak: ['mesures', 'signes vitaux', 'constantes', 'epreuve', 'epreuves'],
  },
  {
    type: 'biology',
    strong: [
      'biologie', 'biologique', 'biologiques', 'biologie medicale', 'bilan biologique', 'bilan sanguin', 'resultats d analyses',
      'resultats d analyse', 'compte rendu d examens biologiques', 'cr d examens biologiques', 'cr de biologie', 'laboratoire', 'labo', 'lbm',
      'hprim', 'nfs', 'numeration formule sanguine', 'hemogramme', 'ionogramme', 'bilan lipidique', 'exploration d une anomalie lipidique',
      'eal', 'hba1c', 'hemoglobine glyquee', 'glycemie', 'tsh', 'bilan thyroidien', 'inr', 'tp inr', 'bilan de coagulation', 'serologie',
      'serologies', 'ecbu', 'examen cytobacteriologique des urines', 'bilan hepatique', 'bilan renal', 'creatinine', 'clairance', 'crp',
      'ferritine', 'bilan martial', 'psa', 'vitamine d', 'gaz du sang', 'microbiologie', 'bacteriologie', 'virologie', 'hematologie',
      'biochimie', 'immunologie', 'genetique moleculaire', 'caryotype', 'prise de sang', 'prelevement sanguin', 'bilan pre operatoire sanguin',
      'pcr', 'test pcr', 'cr bio', 'bio',
      // Analytes as the NABM names them.
      'dosage', 'proteine c reactive', 'antigene specifique prostatique', 'transaminases', 'asat', 'alat', 'gamma gt', 'ggt', 'cholesterol',
      'triglycerides', 'hemoglobine', 'plaquettes', 'leucocytes', 'albumine', 'bilirubine', 'lipase', 'troponine', 'bnp', 'nt probnp',
      'd dimeres', 'fibrinogene', 'procalcitonine', 'uree', 'acide urique', 'folates', 'vitamine b12', 'hcg', 'amh', 'fsh', 'oestradiol',
      'testosterone', 'cortisol', 'prolactine', 't4', 't4l', 'electrophorese', 'sang dans les selles', 'test immunologique fecal',
      'acide folique', 'reticulocytes', 'groupe sanguin', 'agglutinines irregulieres', 'rai', 'phenotype erythrocytaire', 'hemoculture', 'hemocultures', 'coproculture', 'prelevement vaginal', 'spermogramme', 'beta hcg', 'bhcg',
    ],
    weak: ['analyses'],
    generic: ['resultats', 'bilan'],
  },
  {
    type: 'imaging',
    strong: [
      'compte rendu d imagerie', 'cr d imagerie', 'compte rendu radiologique', 'cr radiologique', 'radiologique', 'imagerie', 'imagerie medicale', 'radiographie', 'radiologie',
      'radio', 'rx', 'cliche', 'cliches', 'echographie', 'echo', 'scanner', 'tdm', 'tomodensitometrie', 'angioscanner', 'uroscanner',
      'coroscanner', 'arthroscanner', 'irm', 'imagerie par resonance magnetique', 'angio irm', 'arm', 'mammographie', 'tomosynthese',
      'scintigraphie', 'tep', 'tep scan', 'tep tdm', 'pet scan', 'petscan', 'densitometrie', 'osteodensitometrie', 'panoramique',
      'panoramique dentaire', 'cone beam', 'arthrographie', 'urographie', 'cystographie', 'hysterosalpingographie', 'transit', 'dicom',
      'dcm', 'tomographie', 'tomographie par emission de positons', 'scanographie', 'remnographie', 'mammo', 'densito', 'scinti', 'echographie pelvienne', 'echographie abdominale', 'echographie obstetricale', 'echographie thyroidienne',
    ],
  },
  {
    type: 'prescription',
    strong: [
      'ordonnance', 'ordonnances', 'ordonnance bizone', 'bizone', 'prescription', 'prescriptions', 'ordo', 'renouvellement d ordonnance',
      'prescription medicamenteuse', 'prescription de kinesitherapie', 'prescription de soins infirmiers', 'prescription d examens',
      'demande d examens', 'bon d examen', 'bon de transport', 'prescription medicale de transport', 'arret de travail', 'avis d arret de travail',
      'prolongation d arret de travail', 'arret maladie', 'avis d arret maladie', 'demande d imagerie', 'demande d examen d imagerie', 'demande d actes d imagerie',
      'demande d acte d imagerie', 'bon transport', 'pmt', 'dispensation', 'dispensation medicamenteuse',
    ],
    weak: ['renouvellement', 'traitement'],
  },
  {
    type: 'certificate',
    strong: [
      'certificat', 'certificats', 'certificat medical', 'certificat de non contre indication', 'cnci', 'certificat d aptitude',
      'certificat de deces', 'certificat d arret', 'attestation', 'attestation de vaccination', 'certificat de vaccination',
      'carnet de vaccination', 'historique des vaccinations', 'note de vaccination', 'declaration', 'declaration obligatoire',
      'protocole de soins', 'protocole ald', 'protocole de soins ald', 'directives anticipees', 'certificat de sante', 'aptitude',
      'certif', 'cmi', 'certificat medical initial',
      // The formula every certificate opens with (CNOM, CDOM: "Je soussigné(e), Docteur …, certifie avoir examiné …") and the
      // object of the sport certificate (Code du sport L231-2: "absence de contre-indication").
      'je soussigne', 'je soussignee', 'soussigne', 'certifie', 'certifie avoir examine', 'absence de contre indication',
      'non contre indication',
    ],
  },
  {
    type: 'letter',
    strong: [
      'lettre d adressage', 'courrier d adressage', 'adressage', 'lettre de liaison d entree', 'lettre d entree', 'note de transfert',
      'fiche de transfert', 'demande d avis', 'demande de consultation', 'demande de rendez vous', 'notification de rendez vous',
      'courrier', 'courriers', 'lettre', 'cher confrere', 'chere consoeur', 'chere collegue', 'cher collegue', 'cher ami', 'chere amie',
      'telexpertise', 'teleexpertise', 'tele expertise', 'demande de teleexpertise', 'demande de rdv', 'demande de teleconsultation',
      'lettre de liaison a l entree', 'fiche de liaison d urgence', 'document de liaison d urgence',
      // A request addressed to a specialty, as "demande d'avis" is: a letter to the colleague, not his report.
      ...SPECIALTIES.flatMap((s) => [`demande de bilan ${s}`, `demande de consultation ${s}`]),
    ],
    weak: ['avis', 'mot', 'bonjour', 'merci', 'votre patient', 'votre patiente'],
  },
  {
    type: 'consultation-report',
    strong: [
      'compte rendu de consultation', 'cr de consultation', 'cr consultation', 'cs', 'consultation', 'consultation pre anesthesique',
      'consultation d anesthesie', 'cpa', 'teleconsultation', 'compte rendu de visite', 'visite a domicile', 'fiche de consultation',
      'reunion de concertation pluridisciplinaire', 'rcp', 'bilan kinesitherapique', 'bilan orthophonique', 'bilan psychologique',
      'bilan neuropsychologique', 'bilan psychomoteur', 'bilan orthoptique', 'bilan infirmier', 'bilan de soins infirmiers',
      'bilan bucco dentaire', 'examen de l enfant', 'bilan de sante', 'compte rendu de telemedecine', 'entretien pharmaceutique',
      'bilan partage de medication', 'bilan de medication', 'cr d examen de l enfant', 'bilan kine', 'bilan kinesitherapie',
      'bilan dietetique', 'bilan ergotherapique', 'bilan de refraction', 'frcp', 'fiche rcp',
      // "Avis cardiologique": a specialist's answer (a "demande d'avis" is a letter, and comes first).
      ...SPECIALTIES.map((s) => `avis ${s}`),
      // The answer to a request for an opinion (télé-expertise, avis spécialisé) is the opinion: it starts before the
      // "demande d'avis" it names.
      'reponse a une demande d avis', 'reponse a la demande d avis', 'reponse a votre demande d avis', 'reponse a demande d avis',
      'reponse a une demande de teleexpertise', 'reponse a une demande de tele expertise', 'reponse de teleexpertise',
      'reponse de tele expertise', 'compte rendu de teleexpertise', 'compte rendu de tele expertise',
    ],
    // A medical specialty named with no kind of document: a specialist's report (ANS TRE_R38 specialties).
    weak: ['suivi', 'avis specialise', 'controle', ...SPECIALTIES],
    generic: ['compte rendu', 'cr', 'rapport'],
  },
];

/** 0 strong, 1 weak, 2 generic. */
type Tier = 0 | 1 | 2;

interface Phrase {
  type: DocumentType;
  text: string;
  tier: Tier;
  /** The phrase as matched (matchForm). */
  form?: string;
}

/** Articles and prepositions: file names drop them ("lettre_liaison_sortie", "compte-rendu-intervention"). */
const STOP_WORDS = new Set(['de', 'd', 'du', 'des', 'la', 'le', 'l', 'les', 'a', 'au', 'aux', 'et']);
const MONTH_AFTER_DAY = / (\d{1,2}) (janv|fevr|avr|juil|sept|oct|nov|dec)(?= )/g;

/** A light stem: plural and adjective endings read as their noun ("échographique" as "échographie", "biopsies" as "biopsie"). */
function stem(word: string): string {
  if (word.length > 5 && /iques?$/.test(word)) return word.replace(/iques?$/, 'i');
  if (word.length > 4 && /ies?$/.test(word)) return word.replace(/ies?$/, 'i');
  if (word.length > 3 && /[sx]$/.test(word) && !/ss$/.test(word)) return word.slice(0, -1);
  return word;
}

/**
 * The form phrases and texts are compared in: normalizeForKeywords, then words joined in camel case
 * split ("CompteRenduHospitalisation"), an abbreviated month after a day number dropped ("12 oct"
 * is a date, not an OCT), articles dropped and each word stemmed.
 */
function matchForm(text: string): string {
  const split = text.replace(/([a-zà-ÿ])(?=[A-ZÀ-Þ][a-zà-ÿ])/g, '$1 ');
  const words = normalizeForKeywords(split).replace(MONTH_AFTER_DAY, ' $1 ').trim().split(' ');
  return ` ${words.filter((w) => w !== '' && !STOP_WORDS.has(w)).map(stem).join(' ')} `;
}

/**
 * The French labels of the JDV_J07-XdsTypeCode-CISIS value set (codes.ts) are strong phrases of
 * their code's type: a title that is a DMP label reads as that label ("Synthèse Salle de Naissance
 * Mère" is a stay, not the patient's summary). Parenthesised precisions are left out.
 */
const LABEL_PHRASES: readonly Phrase[] = Object.entries(TYPE_CODE_LABELS).map(([code, label]) => ({
  type: LOINC_TYPES[code]!, text: normalizeForKeywords(label.replace(/\([^)]*\)/g, ' ')).trim(), tier: 0 as Tier,
}));

const PHRASES: readonly Phrase[] = [
  ...KEYWORD_RULES.flatMap((r) => [
    ...r.strong.map((text) => ({ type: r.type, text, tier: 0 as Tier })),
    ...(r.weak ?? []).map((text) => ({ type: r.type, text, tier: 1 as Tier })),
    ...(r.generic ?? []).map((text) => ({ type: r.type, text, tier: 2 as Tier })),
  ]),
  ...LABEL_PHRASES,
].map((p) => ({ ...p, form: matchForm(p.text) }));

export function normalizeForKeywords(text: string): string {
  return ` ${text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[œ]/g, 'oe')
    .replace(/[æ]/g, 'ae')
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()} `;
}

/**
 * Words read by their form when no phrase names them, as weak phrases (medical French morphology):
 * - the surgical suffixes and the CCAM's action verbs of therapeutic acts ("cholécystectomie",
 *   "arthroplastie", "exérèse de…", "libération du nerf…", "cure de hernie") → operative report;
 * - an analyte measured in the blood or urine (the NABM's "-émie"/"-urie" names: "uricémie",
 *   "natrémie", "microalbuminurie"), diseases of the same form excepted → biology.
 */
const MORPHOLOGY: ReadonlyArray<{ type: DocumentType; test: (word: string) => boolean }> = [
  { type: 'operative-report', test: (w) => /.{3}(ectomi|otomi|ostomi|plasti|pexi|raphi)$/.test(w) || ['exerese', 'ablation', 'arthrodese', 'osteosynthese', 'amputation', 'greffe', 'liberation', 'extraction', 'cure', 'implantation', 'pose'].includes(w) },
  { type: 'biology', test: (w) => (/.{3}emi$/.test(w) && !['ischemi', 'anemi', 'leucemi', 'septicemi', 'academi'].includes(w)) || /^(protein|microalbumin|albumin|hemat|glycos|calci|creatin)uri$/.test(w) },
];

function morphologyPhrase(hay: string): { phrase: Phrase; at: number } | undefined {
  let at = 0;
  for (const word of hay.split(' ')) {
    if (word !== '') {
      const rule = MORPHOLOGY.find((m) => m.test(word));
      if (rule) return { phrase: { type: rule.type, text: word, tier: 1, form: ` ${word} ` }, at: at - 1 };
    }
    at += word.length + 1;
  }
  return undefined;
}

/** The deciding phrase of a text (see the module comment), or none. */
export function findKeyword(text: string): Phrase | undefined {
  const hay = matchForm(text.slice(0, 4000));
  let best: { phrase: Phrase; at: number } | undefined;
  for (const tier of [0, 1, 2] as const) {
    for (const phrase of PHRASES) {
      if (phrase.tier !== tier) continue;
      const at = hay.indexOf(phrase.form!);
      if (at < 0) continue;
      if (!best || at < best.at || (at === best.at && phrase.form!.length > best.phrase.form!.length)) best = { phrase, at };
    }
    if (tier === 1) {
      const byForm = morphologyPhrase(hay);
      if (byForm && (!best || byForm.at < best.at)) best = byForm;
    }
    if (best) return best.phrase;
  }
  return undefined;
}

export function signalFromKeywords(text: string | undefined, what: string): Signal | undefined {
  if (!text) return undefined;
  const hit = findKeyword(text);
  return hit ? { type: hit.type, reason: `${what} keyword "${hit.text}"` } : undefined;
}
