/**
 * The MSSanté copy of a submission while it waits in the queue (issue 28). An MSSanté operator
 * receives plain MIME; medgate stores nothing in clear, so that MIME is sealed at acceptance to the
 * gateway's transit key (signed by it too) and opened only in memory, to be written into the TLS
 * stream to the operator. Its queue entry is told apart by its id prefix.
 *
 * It lives in message/, beside the other own-copy sealing, because both smtp (the MSSanté copy of a
 * submission) and filing (an integration receipt to an MSSanté sender) queue such copies.
 */
import type * as openpgp from 'openpgp';
import type { MedgateConfig } from '../config/schema.js';
import { ensureTransitKey } from '../crypto/gateway-keys.js';
import type { GatewayContext } from '../context.js';

/** Queue ids of MSSanté copies start with this (the rest is a UUID). */
export const TRANSIT_ID_PREFIX = 'mssante-';

export function isTransitItem(item: { id: string }): boolean {
  return item.id.startsWith(TRANSIT_ID_PREFIX);
}

const keys = new Map<string, Promise<openpgp.PrivateKey>>();

function transitKey(config: MedgateConfig): Promise<openpgp.PrivateKey> {
  const dir = config.keysDir ?? config.dataDir;
  let key = keys.get(dir);
  if (!key) {
    key = ensureTransitKey(dir, config.domain).then((k) => k.privateKey);
    key.catch(() => keys.delete(dir));
    keys.set(dir, key);
  }
  return key;
}

/**
 * The clear MSSanté MIME, sealed to (and signed by) the transit key: what the queue stores. In the
 * sealing worker pool when the server runs one, as submissions are: the main thread holds the clear
 * bytes and the sealed result, the encryption's own copies live and die in the worker.
 */
export async function sealForTransit(ctx: Pick<GatewayContext, 'config' | 'sealer'>, clear: Buffer): Promise<Buffer> {
  const key = await transitKey(ctx.config);
  return (await ctx.sealer()).sealOwnCopy(clear, key, transitAddress(ctx.config), new Date());
}

/**
 * Opens a stored MSSanté copy, in memory (in a worker when there is a pool): the signature must be
 * the transit key's (a blob changed in the store is never sent).
 */
export async function openTransit(ctx: Pick<GatewayContext, 'config' | 'sealer'>, sealed: Buffer): Promise<Buffer> {
  const key = await transitKey(ctx.config);
  return (await ctx.sealer()).openOwnCopy(sealed, key, transitAddress(ctx.config));
}

function transitAddress(config: MedgateConfig): string {
  return `transit@${config.domain}`;
}
