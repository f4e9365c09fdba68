/**
 * Loads message bytes and metadata for FETCH and SEARCH. Metadata comes from a small per-session
 * cache, then from the backend's cache (getMessageMeta), and is otherwise computed from the opened
 * bytes and handed back to the backend (storeMessageMeta) so it can keep it encrypted.
 */
import type { ImapUserSession, MessageMeta } from './backend.js';
import { analyseMessage, MESSAGE_META_VERSION } from './mime/structure.js';
import type { ImapLogger } from './types.js';

const CACHE_ENTRIES = 256;

export class MessageLoader {
  private readonly metaCache = new Map<string, MessageMeta>();

  constructor(
    private readonly user: ImapUserSession,
    private readonly logger: ImapLogger,
  ) {}

  private key(mailbox: string, uidValidity: number, uid: number): string {
    return `${mailbox}\u0000${uidValidity}\u0000${uid}`;
  }

  async raw(mailbox: string, uid: number): Promise<Buffer> {
    return this.user.getMessage(mailbox, uid);
  }

  async meta(mailbox: string, uidValidity: number, uid: number, raw?: Buffer): Promise<MessageMeta> {
    const key = this.key(mailbox, uidValidity, uid);
    const cached = this.metaCache.get(key);
    if (cached) return cached;
    let meta: MessageMeta | null = null;
    if (this.user.getMessageMeta) {
      meta = await this.user.getMessageMeta(mailbox, uid);
      if (meta && meta.version !== MESSAGE_META_VERSION) meta = null;
    }
    if (!meta) {
      meta = await analyseMessage(raw ?? (await this.user.getMessage(mailbox, uid)));
      if (this.user.storeMessageMeta) {
        this.user.storeMessageMeta(mailbox, uid, meta).catch((err: unknown) => this.logger.warn({ err }, 'imap could not cache message metadata'));
      }
    }
    this.metaCache.set(key, meta);
    if (this.metaCache.size > CACHE_ENTRIES) {
      const oldest = this.metaCache.keys().next().value;
      if (oldest !== undefined) this.metaCache.delete(oldest);
    }
    return meta;
  }
}
