/**
 * A login's Argon2 by Node's crypto.argon2 (src/crypto/native-argon2.ts): the same key derivation
 * as openpgp.js's own (same bytes from the same key parameters), used for every Argon2 packet of
 * an unwrap, with a wrong passphrase still refused and a key asking for too much memory refused
 * before anything is allocated.
 */
import * as openpgp from 'openpgp';
import { describe, expect, it } from 'vitest';
import { unwrapPgpKey, wrapPgpKey } from '../../src/crypto/keys.js';
import { decryptKeyNativeArgon2, nativeArgon2Derivations, nativeArgon2PeakConcurrency } from '../../src/crypto/native-argon2.js';

interface S2K { type: string; salt: Uint8Array; t: number; p: number; encodedM: number; produceKey(pass: string, size: number, config?: unknown): Promise<Uint8Array> }
const s2kOf = (key: openpgp.Key): S2K => (key.keyPacket as unknown as { s2k: S2K }).s2k;

async function wrapped(memoryExponent: number, passphrase: string): Promise<{ armored: string; original: openpgp.PrivateKey }> {
  const { privateKey } = await openpgp.generateKey({ type: 'curve25519', userIDs: [{ email: 'paul.demo@cabinet-antony.medgate.test' }], format: 'object' });
  return { armored: await wrapPgpKey(privateKey, passphrase, memoryExponent), original: privateKey };
}

describe('native Argon2 for account keys', () => {
  it('derives the same key as openpgp.js\'s own Argon2 for each packet of a wrapped key (exponents 12 and 16)', async () => {
    for (const exponent of [12, 16]) {
      const { armored } = await wrapped(exponent, 'correct horse battery staple');
      const key = await openpgp.readPrivateKey({ armoredKey: armored });
      for (const k of key.getKeys()) {
        const s2k = s2kOf(k);
        expect(s2k.type).toBe('argon2');
        expect(s2k.encodedM).toBe(exponent);
        // openpgp.js's WebAssembly derivation, called on the class's method.
        const wasm = await Object.getPrototypeOf(s2k).produceKey.call(s2k, 'correct horse battery staple', 32, openpgp.config) as Uint8Array;
        // Ours: installed on the packet by decryptKeyNativeArgon2, then called as openpgp.js calls it.
        const probe = await openpgp.readPrivateKey({ armoredKey: armored });
        const before = nativeArgon2Derivations();
        await decryptKeyNativeArgon2(probe, 'correct horse battery staple');
        expect(nativeArgon2Derivations() - before).toBe(probe.getKeys().length);
        const own = s2kOf(probe.getKeys().find((x) => x.getKeyID().equals(k.getKeyID()))!);
        expect(Object.prototype.hasOwnProperty.call(own, 'produceKey')).toBe(true);
        expect(Buffer.from(await own.produceKey('correct horse battery staple', 32))).toEqual(Buffer.from(wasm));
      }
    }
  }, 60_000);

  it('unwraps to a working key (signs, decrypts what was encrypted to it); a wrong passphrase is CREDENTIALS_WRONG', async () => {
    const { armored, original } = await wrapped(14, 'correct horse battery staple');
    const before = nativeArgon2Derivations();
    const key = await unwrapPgpKey(armored, 'correct horse battery staple');
    expect(nativeArgon2Derivations() - before).toBe(2); // primary key and encryption subkey
    expect(key.isDecrypted()).toBe(true);
    expect(key.getFingerprint()).toBe(original.getFingerprint());
    const message = await openpgp.createMessage({ text: 'Bonjour' });
    const encrypted = await openpgp.encrypt({ message, encryptionKeys: original.toPublic(), signingKeys: key });
    const { data, signatures } = await openpgp.decrypt({ message: await openpgp.readMessage({ armoredMessage: encrypted as string }), decryptionKeys: key, verificationKeys: original.toPublic() });
    expect(data).toBe('Bonjour');
    await expect(signatures[0]!.verified).resolves.toBe(true);
    await expect(unwrapPgpKey(armored, 'correct horse battery stapler')).rejects.toMatchObject({ code: 'CREDENTIALS_WRONG' });
  }, 60_000);

  it('six logins at once: at most two derivations run at the same time, each key one after the other', async () => {
    const keys = await Promise.all(Array.from({ length: 6 }, () => wrapped(14, 'correct horse battery staple')));
    const before = nativeArgon2Derivations();
    const unwrapped = await Promise.all(keys.map((k) => unwrapPgpKey(k.armored, 'correct horse battery staple')));
    expect(unwrapped.map((k) => k.getFingerprint())).toEqual(keys.map((k) => k.original.getFingerprint()));
    expect(nativeArgon2Derivations() - before).toBe(12);
    expect(nativeArgon2PeakConcurrency()).toBeLessThanOrEqual(2);
    expect(nativeArgon2PeakConcurrency()).toBeGreaterThanOrEqual(1);
  }, 60_000);

  it('refuses a key whose Argon2 asks for more memory than openpgp.js allows, before deriving', async () => {
    const { armored } = await wrapped(10, 'correct horse battery staple');
    const key = await openpgp.readPrivateKey({ armoredKey: armored });
    for (const k of key.getKeys()) s2kOf(k).encodedM = openpgp.config.maxArgon2MemoryExponent + 1;
    const before = nativeArgon2Derivations();
    await expect(decryptKeyNativeArgon2(key, 'correct horse battery staple')).rejects.toThrow(/maxArgon2MemoryExponent/);
    expect(nativeArgon2Derivations()).toBe(before);
  });
});
