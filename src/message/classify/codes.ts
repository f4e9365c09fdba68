import type { Signal } from './types.js';

/** LOINC document type codes (DOMAIN.md) → document type. */
export const LOINC_TYPES: Readonly<Record<string, Signal['type']>> = {
  '11488-4': 'consultation-report',
  '34133-9': 'hospital-report',
  '18842-5': 'hospital-report',
  '11502-2': 'biology',
  '18748-4': 'imaging',
  '11504-8': 'operative-report',
  '57833-6': 'prescription',
  '60591-5': 'summary',
};

/** typeCode first (it is the precise one), then classCode when it happens to be LOINC. */
export function signalFromXdmCodes(typeCode?: string, classCode?: string): Signal | undefined {
  const byType = typeCode ? LOINC_TYPES[typeCode] : undefined;
  if (byType) return { type: byType, reason: `xdm typeCode ${typeCode}` };
  const byClass = classCode ? LOINC_TYPES[classCode] : undefined;
  if (byClass) return { type: byClass, reason: `xdm classCode ${classCode}` };
  return undefined;
}
