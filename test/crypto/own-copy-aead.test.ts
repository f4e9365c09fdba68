/**
 * Own copies sealed under the account key (docs/secure-message-format.md §5.2): AES-256-GCM under
 * a key derived per copy (HKDF-SHA256 over a random salt) from the account's key, the owner's
 * address and the constant header block authenticated with it. Checked here:
 * - the bytes come back exactly (text, 8-bit, NUL bytes, empty, 5 MB), and nothing of the message
 *   is readable in the sealed form;
 * - two seals of the same bytes differ (fresh salt and nonce);
 * - every single-byte change anywhere (header, salt, nonce, ciphertext, tag), a truncation, another
 *   account's key, or the same key under another owner's address is refused with a typed error
 *   and no plaintext; random mutations never throw anything else.
 */
import { createSecretKey, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CryptoErrorCode, isCryptoError } from '../../src/crypto/errors.js';
import { isOwnCopyAead, openOwnCopyAead, OWN_COPY_HEADER, sealOwnCopyAead } from '../../src/crypto/seal/own-copy-aead.js';
import { outlookSample } from './fixtures.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const key = randomBytes(32);

async function codeOf(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (err) {
    return isCryptoError(err) ? err.code : `untyped: ${String(err)}`;
  }
  return undefined;
}

describe('own copy under the account key', () => {
  it('opens to the same bytes, whatever they hold, and shows nothing of them', async () => {
    const samples = [
      outlookSample(),
      Buffer.from('Subject: Résumé médical DUPONT Jean\n\nAllergie pénicilline\n', 'utf8'),
      Buffer.from([0, 1, 2, 0, 255, 13, 10, 0]),
      Buffer.alloc(0),
      Buffer.concat([Buffer.from('Subject: gros\r\n\r\n'), randomBytes(5 * 1024 * 1024)]),
    ];
    for (const raw of samples) {
      const sealed = await sealOwnCopyAead(raw, key, PAUL);
      expect(isOwnCopyAead(sealed)).toBe(true);
      expect(sealed.subarray(0, OWN_COPY_HEADER.length).toString('latin1')).toMatch(/^X-Medgate-Format: medgate\/1; body=own-aead\r$/m);
      expect((await openOwnCopyAead(sealed, key, PAUL)).equals(raw)).toBe(true);
    }
    const secret = Buffer.from('Subject: Résumé médical DUPONT Jean\r\n\r\nAllergie pénicilline, INS 159018002121980\r\n', 'utf8');
    const sealed = await sealOwnCopyAead(secret, key, PAUL);
    for (const word of ['DUPONT', 'Résumé', 'pénicilline', '159018002121980', 'Subject']) {
      expect(sealed.includes(Buffer.from(word, 'utf8'))).toBe(false);
    }
    // Its header block says nothing about the message: no From, Date, Subject, Message-ID.
    expect(OWN_COPY_HEADER.toString('latin1')).not.toMatch(/^(from|to|date|subject|message-id):/im);
  });

  it('seals the same bytes differently each time', async () => {
    const raw = outlookSample();
    const a = await sealOwnCopyAead(raw, key, PAUL);
    const b = await sealOwnCopyAead(raw, key, PAUL);
    expect(a.equals(b)).toBe(false);
    expect(a.length).toBe(b.length);
  });

  it('refuses any changed byte, a truncation, another key and another owner, with a typed error', async () => {
    const raw = Buffer.from('Subject: t\r\n\r\nCompte rendu\r\n');
    const sealed = await sealOwnCopyAead(raw, key, PAUL);
    for (let i = 0; i < sealed.length; i++) {
      const bad = Buffer.from(sealed);
      bad[i] = bad[i]! ^ 0x01;
      const code = await codeOf(() => openOwnCopyAead(bad, key, PAUL));
      // A changed header byte is not an own copy at all; any other byte fails the tag.
      expect(code, `byte ${i}`).toBe(i < OWN_COPY_HEADER.length ? CryptoErrorCode.MALFORMED_STRUCTURE : CryptoErrorCode.CIPHERTEXT_TAMPERED);
    }
    expect(await codeOf(() => openOwnCopyAead(sealed.subarray(0, sealed.length - 1), key, PAUL))).toBe(CryptoErrorCode.CIPHERTEXT_TAMPERED);
    expect(await codeOf(() => openOwnCopyAead(sealed.subarray(0, OWN_COPY_HEADER.length + 40), key, PAUL))).toBe(CryptoErrorCode.MALFORMED_STRUCTURE);
    expect(await codeOf(() => openOwnCopyAead(sealed, randomBytes(32), PAUL))).toBe(CryptoErrorCode.CIPHERTEXT_TAMPERED);
    expect(await codeOf(() => openOwnCopyAead(sealed, key, 'jl.letest@cabinet-antony.medgate.test'))).toBe(CryptoErrorCode.CIPHERTEXT_TAMPERED);
    expect(await codeOf(() => openOwnCopyAead(Buffer.from('From: a\r\n\r\nhello'), key, PAUL))).toBe(CryptoErrorCode.MALFORMED_STRUCTURE);
    // The owner's address is compared without case, as addresses are everywhere else.
    expect((await openOwnCopyAead(sealed, key, PAUL.toUpperCase())).equals(raw)).toBe(true);
  });

  it('never throws anything but a typed error on random damage (fuzz, 2000 cases)', async () => {
    const sealed = await sealOwnCopyAead(outlookSample(), key, PAUL);
    let seed = 31;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 2000; i++) {
      let bad = Buffer.from(sealed);
      const kind = rand(4);
      if (kind === 0) bad[rand(bad.length)] = rand(256);
      else if (kind === 1) bad = bad.subarray(0, rand(bad.length));
      else if (kind === 2) bad = Buffer.concat([bad, randomBytes(1 + rand(64))]);
      else bad = Buffer.concat([bad.subarray(0, rand(bad.length)), randomBytes(rand(100)), bad.subarray(rand(bad.length))]);
      if (bad.equals(sealed)) continue;
      const code = await codeOf(() => openOwnCopyAead(bad, key, PAUL));
      expect([CryptoErrorCode.MALFORMED_STRUCTURE, CryptoErrorCode.CIPHERTEXT_TAMPERED]).toContain(code);
    }
  });

  it('refuses a key that is not 32 bytes, sealing and opening', async () => {
    await expect(sealOwnCopyAead(Buffer.from('x'), randomBytes(16), PAUL)).rejects.toThrow(/32 bytes/);
    await expect(openOwnCopyAead(await sealOwnCopyAead(Buffer.from('x'), key, PAUL), randomBytes(16), PAUL)).rejects.toThrow(/32 bytes/);
    // A KeyObject made once from the key (what MetaKey keeps) seals and opens the same copies.
    const secret = createSecretKey(key);
    expect((await openOwnCopyAead(await sealOwnCopyAead(Buffer.from('x'), secret, PAUL), key, PAUL)).toString()).toBe('x');
  });

  it('lets the event loop run while it seals and opens a large copy', async () => {
    const raw = randomBytes(20 * 1024 * 1024);
    let turns = 0;
    const timer = setInterval(() => { turns++; }, 0);
    try {
      const sealed = await sealOwnCopyAead(raw, key, PAUL);
      const sealTurns = turns;
      expect((await openOwnCopyAead(sealed, key, PAUL)).equals(raw)).toBe(true);
      // Twenty 1 MiB slices each way: timers ran between them (one call would let none run).
      expect(sealTurns).toBeGreaterThan(2);
      expect(turns - sealTurns).toBeGreaterThan(2);
    } finally {
      clearInterval(timer);
    }
  });
});
