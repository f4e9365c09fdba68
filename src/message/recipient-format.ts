import { isSmimeEncryptionCertificate } from '../pki/index.js';
import type { DirectoryEntry } from '../store/types.js';

/** The two sealed formats medgate writes: medgate/1 with a PGP/MIME body, or with an S/MIME body. */
export type SealFormat = 'openpgp' | 'smime';

/** Whether an address asks for S/MIME by configuration (`smime.prefer`: addresses or domains). */
export function prefersSmime(address: string, prefer: readonly string[]): boolean {
  const a = address.toLowerCase();
  const domain = a.slice(a.lastIndexOf('@') + 1);
  return prefer.some((p) => (p.includes('@') ? p === a : p === domain));
}

/**
 * The format a recipient can read (issue 15): S/MIME when its entry has an X.509 encryption
 * certificate for its address and either no OpenPGP key or a preference for S/MIME; OpenPGP when
 * it has a key; none otherwise (medgate never sends in clear). Record servers file from the
 * OpenPGP routing header: always OpenPGP.
 */
export function chooseFormat(entry: DirectoryEntry, o: { prefer: readonly string[]; recordServer: boolean }): SealFormat | undefined {
  const smime = !o.recordServer && !!entry.certificatePem && isSmimeEncryptionCertificate(entry.certificatePem, entry.address);
  if (smime && (!entry.pgpPublicKey || prefersSmime(entry.address, o.prefer))) return 'smime';
  return entry.pgpPublicKey ? 'openpgp' : undefined;
}
