import type { GatewayContext } from '../context.js';
import type { AuthMeta, ImapBackend, ImapUserSession } from '../imap/backend.js';
import { isMedgateError } from '../errors.js';
import { MetaKey } from './meta-key.js';
import { StoreUserSession } from './store-session.js';

/** The IMAP server's view of medgate's encrypted store: LOGIN unlocks the user's key for the session. */
export class StoreBackend implements ImapBackend {
  constructor(private readonly ctx: GatewayContext) {}

  async authenticate(user: string, password: string, meta: AuthMeta): Promise<ImapUserSession | null> {
    let unlocked;
    try {
      unlocked = await this.ctx.accounts.unlock(user, password, { via: `imap-${meta.mechanism.toLowerCase()}`, remote: meta.remoteAddress });
    } catch (err) {
      if (isMedgateError(err) && err.code === 'CREDENTIALS_WRONG') return null;
      throw err;
    }
    const address = unlocked.account.address;
    const metaKey = await MetaKey.forAccount(this.ctx.store.accounts, address, unlocked.pgpKey);
    const view = unlocked.account.kind === 'rmp' ? 'routing' : 'opened';
    const session = new StoreUserSession(this.ctx, address, unlocked.pgpKey, metaKey, await this.ctx.sealer(), view);
    await session.prepare();
    return session;
  }
}
