/** A message arriving between the SELECT snapshot and the change subscription must not be lost. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthMeta, ImapBackend, ImapUserSession } from '../../src/imap/backend.js';
import { MemoryBackend } from '../../src/imap/memory-backend.js';
import { createImapServer, type ImapServer } from '../../src/imap/server.js';
import { simpleMessage } from './fixtures.js';
import { makeCertificate, PASSWORD, RawClient, USER } from './harness.js';

/** Delivers one message right after each snapshot is taken, before SELECT can subscribe. */
class RacyBackend implements ImapBackend {
  constructor(private readonly inner: MemoryBackend) {}
  async authenticate(user: string, password: string, meta: AuthMeta): Promise<ImapUserSession | null> {
    const session = await this.inner.authenticate(user, password, meta);
    if (!session) return null;
    return new Proxy(session, {
      get: (target, prop, receiver) => {
        if (prop !== 'openMailbox') return Reflect.get(target, prop, receiver) as unknown;
        return async (name: string) => {
          const snapshot = await target.openMailbox(name);
          await target.append(name, simpleMessage({ subject: 'racing', body: 'r' }), [], new Date());
          return snapshot;
        };
      },
    });
  }
}

let server: ImapServer;
let port: number;
beforeAll(async () => {
  const memory = new MemoryBackend();
  memory.addUser(USER, PASSWORD);
  server = createImapServer({ backend: new RacyBackend(memory), tls: makeCertificate(), host: '127.0.0.1', tlsPort: 0 });
  port = (await server.listen()).tlsPort as number;
});
afterAll(async () => {
  await server.close();
});

describe('SELECT snapshot race', () => {
  it('reports the message that arrived while the mailbox was being opened', async () => {
    const client = await RawClient.tls(port);
    await client.command('a', `LOGIN "${USER}" "${PASSWORD}"`);
    const reply = await client.command('b', 'SELECT INBOX');
    expect(reply).toMatch(/^\* 0 EXISTS\r\n/m);
    // The message arrived while this session was opening the mailbox: it is this session's \\Recent.
    expect(reply).toMatch(/^\* 1 EXISTS\r\n\* 1 RECENT\r\nb OK/m);
    expect(await client.command('c', 'UID SEARCH SUBJECT racing')).toMatch(/^\* SEARCH 1\r\n/m);
    client.destroy();
  });
});
