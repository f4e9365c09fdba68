import type * as openpgp from 'openpgp';
import type { GatewayContext } from '../context.js';
import { decryptWithKey } from '../crypto/keys.js';
import type { RoutingHeader, Verification } from '../crypto/seal/index.js';
import { openSmime, type X509Credential } from '../crypto/smime/index.js';
import { MedgateError } from '../errors.js';
import type { MessageSealer } from '../message/sealer.js';
import { readTrustFiles } from '../pki/index.js';

/** Opens S/MIME mail for one reader: what openStored() needs besides the sealed bytes. */
export interface SmimeReader {
  /** `pinned`: the certificate fingerprint that verified at the first opening (cached facts). */
  open(sealed: Buffer, pinned?: string | null): Promise<{ raw: Buffer; routing: RoutingHeader | null; verification: Verification }>;
}

/**
 * The S/MIME side of a mailbox session (issue 15): the account's X.509 key (stored encrypted to
 * its OpenPGP key, which the login unlocked) decrypts; the signer's chain is checked against the
 * configured health PKI anchors and CRLs, read at each opening as for peer TLS certificates; the
 * directory says whether the signer is active; a medgate/1 routing header is opened with the
 * reader's OpenPGP key when it was encrypted to it (patient folders).
 */
export function smimeReader(ctx: GatewayContext, sealer: MessageSealer, owner: string, pgpKey: openpgp.PrivateKey): SmimeReader {
  let credential: Promise<X509Credential> | undefined;
  const loadCredential = async (): Promise<X509Credential> => {
    const account = await ctx.store.accounts.get(owner);
    if (!account) throw new MedgateError('NOT_FOR_THIS_KEY', 'The account has no certificate to open S/MIME mail with');
    return { certPem: account.certificatePem, keyPem: await decryptWithKey(account.wrappedCertKey, pgpKey) };
  };
  return {
    async open(sealed, pinned) {
      credential ??= loadCredential().catch((err: unknown) => { credential = undefined; throw err; });
      const trust = readTrustFiles(ctx.config.pki.trustAnchors, ctx.config.pki.crls);
      const res = await openSmime({
        sealed, recipient: await credential,
        trust: { anchorsPem: trust.anchorsPem, ...(trust.crlsPem.length ? { crlsPem: trust.crlsPem } : {}) },
        resolveSigner: sealer.resolveX509Signer, pinnedCertificate: pinned ?? null,
        routing: { decryptionKey: pgpKey, resolveSigner: sealer.resolveSigner },
      });
      return { raw: res.raw, routing: res.routing, verification: res.verification };
    },
  };
}
