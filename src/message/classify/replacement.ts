/**
 * A summary its writer signs as a replacement ("Dr Martin, médecin remplaçant", "remplaçante du
 * Dr Demo", "en remplacement du Dr Demo"). The directory says nothing of it (the MSSanté extraction
 * has no such field, and a replacing doctor is an ordinary doctor there); the summary itself does.
 * Such a summary is filed beside the treating doctor's and never makes its writer the treating
 * doctor (src/filing/filing-service.ts). Only wordings about a doctor count: "remplacement
 * valvulaire" or "traitement de remplacement" are clinical words, not a signature.
 */
import { normalizeForKeywords } from './keywords.js';

const REPLACEMENT = [
  // "médecin remplaçant(e)", "Dr X remplaçant(e)"
  / (medecin|docteur|dr) (\w+ ){0,3}remplacant(e)? /,
  // "remplaçant(e) du Dr X", "remplaçant(e) de Dr X"
  / remplacant(e)? (du|de|d) (docteur|dr|medecin) /,
  // "en remplacement du Dr X"
  / en remplacement (du|de|d) (docteur|dr|medecin) /,
  // a line that is only "Remplaçant" / "Remplaçante" (a signature block)
  /^ remplacant(e)? $/,
];

/** Whether the text (a summary's body) says its writer is replacing the usual doctor. */
export function signedAsReplacement(text: string): boolean {
  const lines = text.slice(0, 20000).split(/\r?\n/).map((l) => normalizeForKeywords(l)).filter((l) => l.trim() !== '');
  return lines.some((l) => REPLACEMENT.some((re) => re.test(l)));
}
