/**
 * The `X-MSS-*` header fields of the Référentiel socle MSSanté #2 ("Clients de Messageries Sécurisées
 * de Santé", v0.1, 14 June 2021) on a message medgate sends to an MSSanté mailbox:
 * - `X-MSS-CODECDA` (ECO.2.4.1): set when the message's IHE_XDM archive holds CDA documents, to the
 *   `code` of their CDA headers; several documents make it multi-valued (the distinct codes, comma
 *   separated, in archive order); absent when the archive holds no CDA;
 * - `X-MSS-INS` (ECO.2.4.2): same condition; `O` when the CDA carries a qualified INS, else `N`.
 *   medgate keeps no identity status: it writes `O` when the sender gave an INS (matricule and OID)
 *   and the traits that go with it (birth name, first given name, birth date, sex M/F). An INS may
 *   only be shared once its identity is qualified (Référentiel national d'identitovigilance), so an
 *   INS a doctor sends is one he qualified. Without an INS, or without the sex, `N`;
 * - `X-MSS-NIL` (ECO.2.4.3): the "référence produit" the ANS issues when the software is declared on
 *   convergence.esante.gouv.fr, from `mssante.productReference`; absent when not configured.
 */
import type { PatientIdentity } from '../../message/identity/index.js';
import { listFieldSpans } from '../../crypto/seal/header-block.js';

export const X_MSS_CODECDA = 'X-MSS-CODECDA';
export const X_MSS_INS = 'X-MSS-INS';
export const X_MSS_NIL = 'X-MSS-NIL';

/** `O` for an INS with its traits (see above), else `N`. */
export function insFlag(patient: Pick<PatientIdentity, 'ins' | 'sex'>): 'O' | 'N' {
  return patient.ins && (patient.sex === 'M' || patient.sex === 'F') ? 'O' : 'N';
}

/** The X-MSS-* fields of a message whose archive medgate wrote, as [name, value] pairs. */
export function mssHeaders(cdaCodes: string[], patient: Pick<PatientIdentity, 'ins' | 'sex'>, productReference?: string): Array<[string, string]> {
  const fields: Array<[string, string]> = [];
  if (cdaCodes.length) {
    fields.push([X_MSS_CODECDA, [...new Set(cdaCodes)].join(',')]);
    fields.push([X_MSS_INS, insFlag(patient)]);
  }
  if (productReference) fields.push([X_MSS_NIL, productReference]);
  return fields;
}

/** A message sent as written gets `X-MSS-NIL` on top when configured and not already there. */
export function withProductReference(raw: Buffer, header: Buffer, productReference?: string): Buffer {
  if (!productReference) return raw;
  if (listFieldSpans(header).some((f) => f.name.toLowerCase() === 'x-mss-nil')) return raw;
  return Buffer.concat([Buffer.from(`${X_MSS_NIL}: ${productReference}\r\n`, 'ascii'), raw]);
}
