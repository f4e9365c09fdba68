import type { DocumentType } from '../message/classify/index.js';

/** RMP tabs, in display order. */
export const TABS = ['summary', 'reports', 'biology', 'imaging', 'prescriptions', 'letters', 'other'] as const;
export type Tab = (typeof TABS)[number];

const TAB_OF: Record<DocumentType, Tab> = {
  summary: 'summary',
  'consultation-report': 'reports',
  'hospital-report': 'reports',
  'operative-report': 'reports',
  'exam-report': 'reports',
  'pathology-report': 'reports',
  certificate: 'letters',
  biology: 'biology',
  imaging: 'imaging',
  prescription: 'prescriptions',
  letter: 'letters',
  other: 'other',
};

/** Tab of a document type; an unknown type (a newer sender) goes to `other`. */
export function tabOf(type: string): Tab {
  return (TAB_OF as Record<string, Tab>)[type] ?? 'other';
}
