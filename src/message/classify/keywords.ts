/**
 * Keyword rules for subjects, titles and file names. Text is compared without accents, in lower
 * case, with punctuation/underscores as spaces, on whole words. Order matters: the first rule that
 * matches wins, so specific phrases ("lettre de sortie") come before generic ones ("lettre").
 */
import type { DocumentType, Signal } from './types.js';

interface KeywordRule {
  type: DocumentType;
  phrases: string[];
}

export const KEYWORD_RULES: readonly KeywordRule[] = [
  { type: 'operative-report', phrases: ['compte rendu operatoire', 'cr operatoire', 'cro', 'operatoire', 'intervention chirurgicale'] },
  {
    type: 'hospital-report',
    phrases: ['compte rendu d hospitalisation', 'cr d hospitalisation', 'crh', 'lettre de sortie', 'hospitalisation', 'sejour'],
  },
  { type: 'summary', phrases: ['volet de synthese medicale', 'synthese', 'vms', 'patient summary'] },
  { type: 'prescription', phrases: ['ordonnance', 'prescription', 'ordo'] },
  {
    type: 'biology',
    phrases: ['biologie', 'biologique', 'bilan sanguin', 'resultats d analyses', 'analyses', 'laboratoire', 'labo', 'hprim'],
  },
  {
    type: 'imaging',
    phrases: [
      'radiographie', 'radiologie', 'radio', 'echographie', 'echo', 'scanner', 'tdm', 'irm', 'imagerie',
      'mammographie', 'scintigraphie', 'dicom', 'dcm', 'panoramique', 'doppler',
    ],
  },
  {
    type: 'consultation-report',
    phrases: ['compte rendu de consultation', 'cr de consultation', 'cr consultation', 'consultation', 'compte rendu', 'cr'],
  },
  { type: 'letter', phrases: ['courrier', 'lettre', 'demande d avis', 'avis', 'adressage'] },
];

export function normalizeForKeywords(text: string): string {
  return ` ${text
    .normalize('NFD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()} `;
}

export function signalFromKeywords(text: string | undefined, what: string): Signal | undefined {
  if (!text) return undefined;
  const hay = normalizeForKeywords(text.slice(0, 4000));
  for (const rule of KEYWORD_RULES) {
    const hit = rule.phrases.find((p) => hay.includes(` ${p} `));
    if (hit) return { type: rule.type, reason: `${what} keyword "${hit}"` };
  }
  return undefined;
}
