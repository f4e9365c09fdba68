import type { GatewayContext } from '../context.js';
import { FilingService } from './filing-service.js';
import type { AuthorsConfig } from './authors.js';

const services = new WeakMap<GatewayContext, Promise<FilingService>>();

/** The filing service of a gateway context, created once (the data key is read on first use). */
export function filingFor(ctx: GatewayContext): Promise<FilingService> {
  let s = services.get(ctx);
  if (!s) {
    s = FilingService.open(ctx.store.filing, ctx.config.keysDir ?? ctx.config.dataDir, ctx.store.mail);
    services.set(ctx, s);
  }
  return s;
}

/** The configured rights matrix and verifiable authors (`filing.rights`, `filing.senders`, `filing.hprimLabs`). */
export function rightsConfigOf(ctx: Pick<GatewayContext, 'config'>): AuthorsConfig {
  const f = (ctx.config as { filing?: { rights?: Record<string, string[]>; senders?: Record<string, string>; hprimLabs?: Record<string, string> } }).filing;
  return {
    rights: f?.rights ?? {},
    senders: Object.fromEntries(Object.entries(f?.senders ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    hprimLabs: Object.fromEntries(Object.entries(f?.hprimLabs ?? {}).map(([k, v]) => [k.trim().toUpperCase(), v.trim().toLowerCase()])),
  };
}
