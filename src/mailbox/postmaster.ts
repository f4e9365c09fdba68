import type * as openpgp from 'openpgp';
import type { GatewayContext } from '../context.js';
import { ensurePostmasterKey } from '../crypto/gateway-keys.js';

/**
 * The sender of the gateway's own mail (delivery reports from smtp/, read receipts from filing/),
 * beside the local delivery path both use. The gateway's postmaster identity: its signing key, published as an active application entry of
 * the directory so that anyone opening a delivery report can verify who signed it.
 */
export async function ensurePostmaster(ctx: GatewayContext): Promise<{ address: string; key: openpgp.PrivateKey }> {
  const address = `postmaster@${ctx.config.domain}`;
  const key = await ensurePostmasterKey(ctx.config.keysDir ?? ctx.config.dataDir, ctx.config.domain);
  const existing = await ctx.store.directory.get(address);
  if (!existing || existing.pgpPublicKey !== key.publicKeyArmored || existing.status !== 'active') {
    await ctx.store.directory.upsert({
      address, mailboxType: 'APP', idType: null, idValue: null, nationalId: null, civility: null,
      familyName: null, givenName: null, professionCode: null, professionLabel: null, specialtyCode: null,
      specialtyLabel: null, organisation: `medgate ${ctx.config.domain}`, status: 'active', certificatePem: null,
      pgpPublicKey: key.publicKeyArmored, source: 'local', updatedAt: new Date().toISOString(),
    });
    await ctx.audit.record({ actor: 'system', action: 'directory.postmaster.publish', outcome: 'ok', details: { address, fingerprint: key.fingerprint } });
  }
  return { address, key: key.privateKey };
}
