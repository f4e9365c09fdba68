import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleMessage } from './fixtures.js';
import { PASSWORD, RawClient, startHarness, USER, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness({ maxNestingDepth: 8, maxLineLength: 8 * 1024 });
});

afterAll(async () => {
  await h.close();
});

async function login(client: RawClient): Promise<void> {
  const reply = await client.command('L1', `LOGIN "${USER}" "${PASSWORD}"`);
  expect(reply).toMatch(/^L1 OK/m);
}

/** Proves the server still serves a fresh client end to end. */
async function assertServerAlive(): Promise<void> {
  const client = await RawClient.tls(h.tlsPort);
  await login(client);
  expect(await client.command('A1', 'SELECT INBOX')).toMatch(/^A1 OK \[READ-WRITE\]/m);
  expect(await client.command('A2', 'LOGOUT')).toMatch(/\* BYE/);
  await client.waitClosed();
}

describe('IMAP robustness', () => {
  it('answers garbage bytes with BAD and keeps the session', async () => {
    const client = await RawClient.tls(h.tlsPort);
    client.write(Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x80, 0x0d, 0x0a]));
    expect(await client.waitFor(/BAD .*\r\n/)).toMatch(/BAD/);
    client.write('x1 \x01\x02 NOOP\r\n');
    expect(await client.waitFor(/^x1 BAD/m)).toMatch(/x1 BAD/);
    expect(await client.command('x2', 'NOOP')).toMatch(/^x2 OK/m);
    client.destroy();
    await assertServerAlive();
  });

  it('refuses an over-long line with BAD [TOOBIG] and resynchronises', async () => {
    const client = await RawClient.tls(h.tlsPort);
    client.write('t1 NOOP ' + 'A'.repeat(20_000) + '\r\n');
    expect(await client.waitFor(/^t1 BAD \[TOOBIG\].*\r\n/m)).toMatch(/TOOBIG/);
    expect(await client.command('t2', 'CAPABILITY')).toMatch(/^t2 OK/m);
    client.destroy();
    await assertServerAlive();
  });

  it('refuses huge literal announcements before reading them', async () => {
    const client = await RawClient.tls(h.tlsPort);
    await login(client);
    client.write('h1 APPEND INBOX {99999999999}\r\n');
    expect(await client.waitFor(/^h1 NO \[TOOBIG\].*\r\n/m)).not.toMatch(/^\+ /m);
    client.write('h2 LOGIN {5000000}\r\n');
    expect(await client.waitFor(/^h2 BAD \[TOOBIG\].*\r\n/m)).toMatch(/h2 BAD/);
    expect(await client.command('h3', 'NOOP')).toMatch(/^h3 OK/m);
    // A non-synchronising literal that is too big cannot be skipped safely: BAD then BYE.
    client.write('h4 APPEND INBOX {99999999999+}\r\n');
    expect(await client.waitFor(/\* BYE/)).toMatch(/h4 BAD \[TOOBIG\]/);
    await client.waitClosed();
    await assertServerAlive();
  });

  it('answers unbalanced parentheses, deep nesting and truncated commands with BAD', async () => {
    const client = await RawClient.tls(h.tlsPort);
    await login(client);
    await client.command('p0', 'SELECT INBOX');
    expect(await client.command('p1', 'FETCH 1:* (FLAGS UID')).toMatch(/^p1 BAD/m);
    expect(await client.command('p2', 'SEARCH ' + '('.repeat(40) + 'ALL' + ')'.repeat(40))).toMatch(/^p2 BAD .*nested/m);
    expect(await client.command('p3', 'FETCH 1:* BODY[1.HEADER.FIELDS (SUBJECT]')).toMatch(/^p3 BAD/m);
    expect(await client.command('p4', 'SELECT')).toMatch(/^p4 BAD/m);
    expect(await client.command('p5', 'UID')).toMatch(/^p5 BAD/m);
    expect(await client.command('p6', 'STORE 1 +FLAGS')).toMatch(/^p6 BAD/m);
    expect(await client.command('p7', 'SEARCH FROM')).toMatch(/^p7 BAD/m);
    expect(await client.command('p8', 'FETCH 0:x FLAGS')).toMatch(/^p8 BAD/m);
    expect(await client.command('p9', 'APPEND INBOX "not a literal"')).toMatch(/^p9 BAD/m);
    expect(await client.command('p10', 'BOGUS')).toMatch(/^p10 BAD/m);
    client.write('lonely\r\n');
    expect(await client.waitFor(/BAD.*\r\n/)).toMatch(/BAD/);
    expect(await client.command('p11', 'NOOP')).toMatch(/^p11 OK/m);
    client.destroy();
    await assertServerAlive();
  });

  it('survives a client that disconnects in the middle of a literal', async () => {
    const client = await RawClient.tls(h.tlsPort);
    await login(client);
    const before = (await (await h.backend.authenticate(USER, PASSWORD, { remoteAddress: 't', mechanism: 'LOGIN' }))!.openMailbox('INBOX')).messages.length;
    client.write('m1 APPEND INBOX {1000}\r\n');
    await client.waitFor(/^\+ /m);
    client.write('only a few bytes');
    client.destroy();
    await assertServerAlive();
    const after = (await (await h.backend.authenticate(USER, PASSWORD, { remoteAddress: 't', mechanism: 'LOGIN' }))!.openMailbox('INBOX')).messages.length;
    expect(after).toBe(before);
  });

  it('survives a client that disconnects during IDLE while mail arrives', async () => {
    const client = await RawClient.tls(h.tlsPort);
    await login(client);
    await client.command('i1', 'SELECT INBOX');
    client.write('i2 IDLE\r\n');
    await client.waitFor(/^\+ idling/m);
    client.destroy();
    await new Promise((r) => setTimeout(r, 50));
    await h.backend.deliver(USER, 'INBOX', simpleMessage({ subject: 'after idle disconnect', body: 'x' }));
    await assertServerAlive();
  });

  it('answers pipelined commands in order, with literals split across packets', async () => {
    const client = await RawClient.tls(h.tlsPort);
    await login(client);
    const message = simpleMessage({ subject: 'pipelined', body: 'split literal' });
    client.write(`q1 NOOP\r\nq2 APPEND INBOX (\\Seen) {${message.length}+}\r\n`);
    client.write(message.subarray(0, 10));
    await new Promise((r) => setTimeout(r, 20));
    client.write(Buffer.concat([message.subarray(10), Buffer.from('\r\nq3 SELECT INBOX\r\nq4 UID SEARCH SUBJECT pipelined\r\n')]));
    const text = await client.waitFor(/^q4 OK.*\r\n/m);
    const order = ['q1 OK', 'q2 OK [APPENDUID', 'q3 OK', 'q4 OK'].map((s) => text.indexOf(s));
    expect(order.every((pos) => pos >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    const uid = /APPENDUID \d+ (\d+)/.exec(text)?.[1];
    expect(text).toMatch(new RegExp(`\\* SEARCH ${uid}\\r\\n`));
    client.destroy();
  });

  it('refuses LOGIN and AUTHENTICATE before STARTTLS, then accepts them after', async () => {
    const client = await RawClient.plain(h.starttlsPort);
    const caps = await client.command('s1', 'CAPABILITY');
    expect(caps).toMatch(/LOGINDISABLED/);
    expect(caps).toMatch(/STARTTLS/);
    expect(caps).not.toMatch(/AUTH=PLAIN/);
    expect(await client.command('s2', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/^s2 NO \[PRIVACYREQUIRED\]/m);
    expect(await client.command('s3', 'AUTHENTICATE PLAIN ' + Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64'))).toMatch(/^s3 NO/m);
    expect(await client.command('s4', 'SELECT INBOX')).toMatch(/^s4 BAD/m);
    // Commands pipelined after STARTTLS in clear text must be dropped, not run inside TLS.
    client.write('s5 STARTTLS\r\ns6 NOOP\r\n');
    await client.waitFor(/^s5 OK.*\r\n/m);
    client.socket.removeAllListeners('data');
    const secure = tls.connect({ socket: client.socket, rejectUnauthorized: false });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    let received = '';
    secure.on('data', (d: Buffer) => (received += d.toString()));
    const sasl = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
    secure.write(`s7 CAPABILITY\r\ns8 AUTHENTICATE PLAIN ${sasl}\r\n`);
    for (let i = 0; i < 100 && !/^s8 /m.test(received); i++) await new Promise((r) => setTimeout(r, 20));
    expect(received).toMatch(/AUTH=PLAIN/);
    expect(received).not.toMatch(/LOGINDISABLED/);
    expect(received).not.toMatch(/s6 /);
    expect(received).toMatch(/^s8 OK/m);
    secure.destroy();
  });

  it('rate-limits failed logins per user and address without asking the backend', async () => {
    h.backend.addUser('throttled@cabinet.example', 'right password');
    const client = await RawClient.tls(h.tlsPort);
    for (let i = 0; i < 5; i++) {
      expect(await client.command(`r${i}`, 'LOGIN throttled@cabinet.example wrong')).toMatch(/NO \[AUTHENTICATIONFAILED\]/);
    }
    const calls = h.backend.authenticateCalls;
    expect(await client.command('r9', 'LOGIN throttled@cabinet.example "right password"')).toMatch(/^r9 NO \[UNAVAILABLE\]/m);
    expect(h.backend.authenticateCalls).toBe(calls);
    expect(h.authEvents.filter((e) => e.user === 'throttled@cabinet.example').map((e) => e.type)).toEqual([
      'failure', 'failure', 'failure', 'failure', 'failure', 'throttled',
    ]);
    // Another user from the same address is not affected.
    await login(client);
    client.destroy();
  });

  it('survives a fuzz of random IMAP-like commands (seeded, bounded)', async () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pieces = ['FETCH', 'UID', 'STORE', 'SEARCH', 'LIST', 'SELECT', 'APPEND', '(', ')', '"', '"a\\"', '{3}', '{2+}', '1:*', '*', 'BODY[', ']', '<1.2>', 'NIL', '\\Seen', 'INBOX', '+FLAGS', 'OR', 'NOT', '~{1}', '%', '\x00', '\xff', 'IDLE'];
    let client = await RawClient.tls(h.tlsPort);
    let fresh = true;
    let answered = 0;
    for (let i = 1; i <= 300; i++) {
      if (client.closed) {
        // Too many BAD commands in a row end the session by design; start a new one.
        client = await RawClient.tls(h.tlsPort);
        fresh = true;
      }
      if (fresh) {
        await login(client);
        fresh = false;
      }
      if (i % 10 === 1) await client.command(`s${i}`, 'SELECT INBOX');
      const words = Array.from({ length: 1 + random(6) }, () => pieces[random(pieces.length)]).join(random(4) === 0 ? '' : ' ');
      // Never start IDLE or end a line with a literal announcement: the answer would not come.
      const line = `z${i} ${words}`.replace(/IDLE|\{\d+\+?\}$/g, 'X');
      client.write(line + '\r\n');
      try {
        await client.waitFor(new RegExp(`(^z${i} (OK|NO|BAD)|^\\* BYE)`, 'm'), 2000);
        answered++;
      } catch {
        // A literal announced mid-line may swallow the next lines; resynchronise with a NOOP.
        client.write('\r\n');
      }
    }
    client.destroy();
    expect(answered).toBeGreaterThan(250);
    await assertServerAlive();
  });

  it('survives a client that stops reading during a large FETCH and then disconnects', async () => {
    const big = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), Buffer.alloc(8 * 1024 * 1024, 'a')]);
    await h.backend.deliver(USER, 'INBOX', big);
    const client = await RawClient.tls(h.tlsPort);
    await login(client);
    await client.command('y1', 'SELECT INBOX');
    client.socket.pause();
    client.write('y2 FETCH 1:* (BODY.PEEK[])\r\n');
    await new Promise((r) => setTimeout(r, 200));
    client.destroy();
    await assertServerAlive();
  });

  it('answers commands issued in the wrong state with BAD', async () => {
    const client = await RawClient.tls(h.tlsPort);
    expect(await client.command('w1', 'FETCH 1 FLAGS')).toMatch(/^w1 BAD/m);
    expect(await client.command('w2', 'LIST "" "*"')).toMatch(/^w2 BAD/m);
    await login(client);
    expect(await client.command('w3', 'EXPUNGE')).toMatch(/^w3 BAD/m);
    expect(await client.command('w4', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/^w4 BAD/m);
    client.destroy();
  });
});

describe('IMAP limits needing their own server', () => {
  it('limits connections per remote address', async () => {
    const limited = await startHarness({ maxConnectionsPerAddress: 2 });
    try {
      const a = await RawClient.tls(limited.tlsPort);
      const b = await RawClient.tls(limited.tlsPort);
      // Over the cap: the clear-text port says why; the implicit-TLS port cannot before a handshake,
      // and closes the socket at once (counted before the handshake, so a stalled one holds nothing).
      await expect(RawClient.plain(limited.starttlsPort)).rejects.toThrow(/Too many connections from your address/);
      await expect(RawClient.tls(limited.tlsPort)).rejects.toThrow(/socket disconnected|ECONNRESET/);
      a.destroy();
      // The server frees the slot when it sees the close; allow for a loaded machine.
      let c: RawClient | null = null;
      for (let attempt = 0; attempt < 40 && !c; attempt++) {
        await new Promise((r) => setTimeout(r, 50));
        c = await RawClient.tls(limited.tlsPort).catch(() => null);
      }
      if (!c) throw new Error('slot was never freed');
      expect(await c.command('n1', 'NOOP')).toMatch(/^n1 OK/m);
      b.destroy();
      c.destroy();
    } finally {
      await limited.close();
    }
  });

  it('limits connections per user and logs out idle clients', async () => {
    const limited = await startHarness({ maxConnectionsPerUser: 2, preAuthTimeoutMs: 300 });
    try {
      const clients = await Promise.all([RawClient.tls(limited.tlsPort), RawClient.tls(limited.tlsPort), RawClient.tls(limited.tlsPort)]);
      const [a, b, c] = clients as [RawClient, RawClient, RawClient];
      expect(await a.command('c1', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/^c1 OK/m);
      expect(await b.command('c2', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/^c2 OK/m);
      expect(await c.command('c3', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/^c3 NO \[LIMIT\]/m);
      expect(limited.authEvents.some((e) => e.type === 'refused')).toBe(true);
      await a.command('c4', 'LOGOUT');
      await a.waitClosed();
      await new Promise((r) => setTimeout(r, 50));
      expect(await c.command('c5', `LOGIN "${USER}" "${PASSWORD}"`)).toMatch(/^c5 OK/m);
      b.destroy();
      c.destroy();

      const idle = await RawClient.tls(limited.tlsPort);
      expect(await idle.waitFor(/\* BYE Autologout/, 3000)).toMatch(/BYE/);
      await idle.waitClosed();
    } finally {
      await limited.close();
    }
  });
});
