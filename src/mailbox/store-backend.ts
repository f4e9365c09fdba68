import type { GatewayContext } from '../context.js';
import type { AuthMeta, ImapBackend, ImapUserSession } from '../imap/backend.js';
import { isMedgateError } from '../errors.js';
import { accountKeyStoreOf, MetaKey } from './meta-key.js';
import { OpenAccounts } from './open-accounts.js';
import { StoreUserSession } from './store-session.js';

/** The IMAP server's view of medgate's encrypted store: LOGIN unlocks the user's key for the session. */
export class StoreBackend implements ImapBackend {
  private readonly open: OpenAccounts;

  constructor(private readonly ctx: GatewayContext) {
    const cache = ctx.config.security.loginCache;
    this.open = new OpenAccounts(cache.maxEntries > 0 ? cache.ttlSeconds * 1000 : 0);
  }

  /**
   * A LOGIN of an account that has another session open, or logged in a moment ago, reuses the key
   * it unlocked (login cache, held while the session lasts) and the account's shared state (its
   * metadata key and decrypted messages): no Argon2, no key unwrap, no re-listing of the INBOX.
   */
  async authenticate(user: string, password: string, meta: AuthMeta): Promise<ImapUserSession | null> {
    let unlocked;
    try {
      unlocked = await this.ctx.accounts.unlock(user, password, { via: `imap-${meta.mechanism.toLowerCase()}`, remote: meta.remoteAddress, hold: true });
    } catch (err) {
      if (isMedgateError(err) && err.code === 'CREDENTIALS_WRONG') return null;
      throw err;
    }
    const release = unlocked.release ?? ((): void => {});
    const address = unlocked.account.address;
    let shared;
    try {
      shared = await this.open.acquire(address, unlocked.pgpKey, () => MetaKey.forAccount(accountKeyStoreOf(this.ctx), address, unlocked.pgpKey));
    } catch (err) {
      release();
      throw err;
    }
    const view = unlocked.account.kind === 'rmp' ? 'routing' : 'opened';
    const session = new StoreUserSession(this.ctx, address, shared, await this.ctx.sealer(), view, () => {
      this.open.release(shared);
      release();
    });
    try {
      await session.prepare();
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }
}
