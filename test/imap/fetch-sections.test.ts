/**
 * FETCH of MIME sections, BINARY decoding, ENVELOPE groups and address SEARCH over a real TLS
 * socket; the messages are those of the Dovecot imaptest groups these behaviours come from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSWORD, RawClient, startHarness, USER } from './harness.js';
import { startStoreHarness } from './store-harness.js';
import { describeOnStores, type StoreKind } from '../helpers/stores.js';

const crlf = (text: string): Buffer => Buffer.from(text.replace(/\r?\n/g, '\r\n'), 'latin1');

const DIGEST = crlf(
  'From: user@domain.org\nMime-Version: 1.0\nContent-Type: message/rfc822\n\n' +
    'From: sub@domain.org\nSubject: submsg\nContent-Type: multipart/digest; boundary="foo"\n\nprologue\n\n' +
    '--foo \n\nFrom: m1@example.com\nSubject: m1\n\nm1 body\n\n' +
    '--foo \nX-Mime: m2 header\n\nFrom: m2@example.com\nSubject: m2\n\nm2 body\n\n--foo--\n\nepilogue\n',
);

const QP = crlf(
  'From: user@domain.org\nMime-Version: 1.0\nContent-Type: multipart/mixed; boundary="foo"\n\n--foo\n' +
    'Content-Type: text/x-myown; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\n' +
    'hello  \nbar=\n\nfoo\t=\nbar\nfoo\t \t= \n=62\nfoo = \t\nbar\nfoo =\n=62\nfoo  \nbar=\n\nfoo_bar\n\n--foo--\n',
);

const GROUPS = crlf('From: <user-from (comment)@ (comment) domain.org>\nTo: group: g1@d1.org;\nCc: group2: (foo) ;\n\nbody\n');

type AnyHarness = Pick<Awaited<ReturnType<typeof startHarness>>, 'tlsPort' | 'client' | 'close'> & { backend: { deliver(user: string, mailbox: string, raw: Buffer, flags?: string[]): Promise<unknown> } };

// The same suite on the memory backend and on both stores (StoreUserSession).
describe('FETCH sections, BINARY, ENVELOPE groups [memory]', () => suite('memory'));
describeOnStores('FETCH sections, BINARY, ENVELOPE groups', (store) => suite(store));

function suite(backend: 'memory' | StoreKind): void {
  let h: AnyHarness;
  let client: RawClient;

  beforeAll(async () => {
    h = backend === 'memory' ? await startHarness() : await startStoreHarness(backend);
    await h.backend.deliver(USER, 'INBOX', DIGEST);
    await h.backend.deliver(USER, 'INBOX', QP);
    await h.backend.deliver(USER, 'INBOX', GROUPS);
    client = await RawClient.tls(h.tlsPort);
    expect(await client.command('a0', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/^a0 OK/m);
    expect(await client.command('a1', 'SELECT INBOX')).toMatch(/^a1 OK/m);
  });

  afterAll(async () => {
    client.destroy();
    await h.close();
  });

  describe('FETCH sections of nested messages', () => {
    it('serves HEADER, TEXT and MIME of messages inside a digest', async () => {
      const reply = await client.command('b1', 'FETCH 1 (BODY.PEEK[1.1.TEXT] BODY.PEEK[1.2.HEADER] BODY.PEEK[1.2.TEXT] BODY.PEEK[1.2.MIME])');
      expect(reply).toContain('BODY[1.1.TEXT] {9}\r\nm1 body\r\n');
      expect(reply).toContain('BODY[1.2.HEADER] {37}\r\nFrom: m2@example.com\r\nSubject: m2\r\n\r\n');
      expect(reply).toContain('BODY[1.2.TEXT] {9}\r\nm2 body\r\n');
      expect(reply).toContain('BODY[1.2.MIME] {21}\r\nX-Mime: m2 header\r\n\r\n');
    });
  });

  describe('BINARY of a quoted-printable part', () => {
    it('decodes soft line breaks, padding and =XX, whole and partial', async () => {
      const reply = await client.command('c1', 'FETCH 2 (BINARY.SIZE[1] BINARY.PEEK[1] BINARY.PEEK[1]<10.10>)');
      expect(reply).toContain('BINARY.SIZE[1] 65');
      expect(reply).toContain('BINARY[1] {65}\r\nhello\r\nbar\r\nfoo\tbar\r\nfoo\t \tb\r\nfoo bar\r\nfoo b\r\nfoo\r\nbar\r\nfoo_bar\r\n');
      expect(reply).toContain('BINARY[1]<10> {10}\r\n\r\nfoo\tbar\r');
    });
  });

  describe('ENVELOPE groups and address SEARCH', () => {
    it('writes groups as RFC 3501 §7.4.2 markers and drops comments inside an address', async () => {
      const reply = await client.command('d1', 'FETCH 3 ENVELOPE');
      expect(reply).toContain('((NIL NIL "user-from" "domain.org"))');
      expect(reply).toContain('((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL NIL NIL)) ((NIL NIL "group2" NIL)(NIL NIL NIL NIL))');
    });

    it('matches FROM against the full mailbox@host address', async () => {
      expect(await client.command('d2', 'SEARCH FROM user-from@domain.org')).toMatch(/^\* SEARCH 3\r\n/m);
      expect(await client.command('d3', 'SEARCH TO group')).toMatch(/^\* SEARCH 3\r\n/m);
    });
  });

  describe('APPEND of a binary part (RFC 3516)', () => {
    it('never sends NUL in BODY[] but returns the original octets in BINARY[]', async () => {
      const content = Buffer.from([0, 0xe4, 0x0a, 0x0d, 0x0a]);
      const message = Buffer.concat([crlf('From: a@b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n'), content]);
      client.write(`e1 APPEND INBOX ~{${message.length}}\r\n`);
      await client.waitFor(/^\+ /m);
      client.write(Buffer.concat([message, Buffer.from('\r\n')]));
      expect(await client.waitFor(/^e1 (OK|NO|BAD).*\r\n/m)).toMatch(/^e1 OK/m);
      await client.command('e2', 'NOOP');
      const body = await client.command('e3', 'FETCH 4 (BODY.PEEK[1] BINARY.SIZE[1])');
      expect(body).not.toContain('\0');
      expect(body).toContain('BODY[1] {10}\r\nAOQKDQo=\r\n');
      expect(body).toContain('BINARY.SIZE[1] 5');
      const binary = await client.command('e4', 'FETCH 4 (BINARY.PEEK[1])');
      expect(binary).toContain(`BINARY[1] ~{5}\r\n${content.toString('latin1')}`);
    });
  });
}
