/**
 * Sender's profession/specialty from the directory: a biologist sends biology, a radiologist
 * imaging. Codes: profession 86 = technicien de laboratoire médical; specialty SM05 = biologie
 * médicale (per the issue; other specialty codes are matched by label, which is more stable).
 */
import { normalizeForKeywords } from './keywords.js';
import type { SenderRole, Signal } from './types.js';

const BIOLOGY_SPECIALTIES = new Set(['SM05']);
const BIOLOGY_PROFESSIONS = new Set(['86']);

export function signalFromSender(sender: SenderRole | undefined): Signal | undefined {
  if (!sender) return undefined;
  const specialty = (sender.specialtyCode ?? '').trim().toUpperCase();
  const profession = (sender.professionCode ?? '').trim();
  const label = normalizeForKeywords(sender.specialtyLabel ?? '');
  if (BIOLOGY_SPECIALTIES.has(specialty)) return { type: 'biology', reason: `sender specialty ${specialty}` };
  if (/ biolog/.test(label)) return { type: 'biology', reason: 'sender specialty label (biology)' };
  if (BIOLOGY_PROFESSIONS.has(profession)) return { type: 'biology', reason: `sender profession ${profession}` };
  if (/ (radio|imagerie)/.test(label)) return { type: 'imaging', reason: 'sender specialty label (imaging)' };
  return undefined;
}
