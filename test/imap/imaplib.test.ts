/** Python's imaplib as a second, independent real client: STARTTLS, LOGIN, SELECT, FETCH, SEARCH, STORE. */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multipartWithPdf, simpleMessage } from './fixtures.js';
import { PASSWORD, startHarness, USER } from './harness.js';
import { startStoreHarness } from './store-harness.js';
import { describeOnStores, type StoreKind } from '../helpers/stores.js';

const SCRIPT = String.raw`
import imaplib, json, ssl, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
out = {}
m = imaplib.IMAP4('127.0.0.1', port)
out['caps_before'] = list(m.capabilities)
try:
    m.login(user, password)
    out['login_before_tls'] = 'accepted'
except imaplib.IMAP4.error as e:
    out['login_before_tls'] = 'refused'
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
m.starttls(ssl_context=ctx)
out['caps_after'] = list(m.capabilities)
typ, _ = m.login(user, password)
out['login'] = typ
typ, data = m.select('INBOX')
out['exists'] = int(data[0])
typ, data = m.search(None, 'FROM', 'alice@cabinet.example', 'SUBJECT', 'imaplib')
out['search'] = data[0].decode()
typ, data = m.uid('SEARCH', 'UNSEEN')
out['uid_unseen'] = data[0].decode()
typ, data = m.fetch('1', '(RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY[1.1])')
out['fetch_meta'] = data[0][0].decode()
out['fetch_subject'] = data[0][1].decode()
out['fetch_part'] = data[1][1].decode() if len(data) > 1 and isinstance(data[1], tuple) else None
typ, data = m.fetch('1', '(RFC822)')
out['rfc822_len'] = len(data[0][1])
typ, data = m.store('2', '+FLAGS', '(\\Flagged)')
out['store'] = data[0].decode()
typ, data = m.fetch('1', '(FLAGS)')
out['flags_after_fetch'] = data[0].decode()
m.close()
m.logout()
print(json.dumps(out))
`;

function runPython(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn('python3', ['-c', SCRIPT, String(port), USER, PASSWORD], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`python exited ${code}: ${stderr}`));
      resolve(JSON.parse(stdout) as Record<string, unknown>);
    });
  });
}

type AnyHarness = Pick<Awaited<ReturnType<typeof startHarness>>, 'tlsPort' | 'client' | 'close'> & { backend: { deliver(user: string, mailbox: string, raw: Buffer, flags?: string[]): Promise<unknown> } };

// The same suite on the memory backend and on both stores (StoreUserSession).
describe('Python imaplib client [memory]', () => suite('memory'));
describeOnStores('Python imaplib client', (store) => suite(store));

function suite(backend: 'memory' | StoreKind): void {
  let h: AnyHarness;
  beforeAll(async () => {
    h = backend === 'memory' ? await startHarness() : await startStoreHarness(backend);
  });
  afterAll(async () => {
    await h.close();
  });

  describe('IMAP server with Python imaplib', () => {
    it('works end to end over STARTTLS', async () => {
      const first = multipartWithPdf('imaplib structure');
      await h.backend.deliver(USER, 'INBOX', first);
      await h.backend.deliver(USER, 'INBOX', simpleMessage({ from: 'alice@cabinet.example', subject: 'imaplib plain', body: 'hello' }), ['\\Seen']);
      const out = await runPython(h.starttlsPort);
      expect(out.caps_before).toContain('LOGINDISABLED');
      expect(out.login_before_tls).toBe('refused');
      expect(out.caps_after).toContain('AUTH=PLAIN');
      expect(out.login).toBe('OK');
      expect(out.exists).toBe(2);
      expect(out.search).toBe('1 2');
      expect(out.uid_unseen).toBe('1');
      expect(out.fetch_meta).toContain(`RFC822.SIZE ${first.length}`);
      expect(out.fetch_subject).toBe('Subject: imaplib structure\r\n\r\n');
      expect(out.fetch_part).toBe('R=C3=A9sultat normal.\r\nDeuxi=C3=A8me ligne.');
      expect(out.rfc822_len).toBe(first.length);
      expect(out.store).toMatch(/FLAGS \(.*\\Flagged.*\)/);
      // BODY[1.1] (not PEEK) marked the message \Seen.
      expect(out.flags_after_fetch).toMatch(/\\Seen/);
    });
  });
}
