/**
 * A secret for its owner, signed by him (src/crypto/keys.ts; the account key, §5.3): what opens, what
 * is refused and with which code, with real openpgp.js keys. Clocks that disagree are part of it:
 * a key created where the clock ran ahead must still sign its own secret, and another node must
 * accept it.
 */
import * as openpgp from 'openpgp';
import { describe, expect, it } from 'vitest';
import { decryptFromOwner, encryptAndSignForOwner, encryptToKey, SIGNED_FOR_OWNER_COMMENT } from '../../src/crypto/keys.js';

const LABEL = 'medgate account key doc@x.test';
const SECRET = 'ab'.repeat(32);

const keyOf = async (email: string, date?: Date): Promise<openpgp.PrivateKey> =>
  (await openpgp.generateKey({ type: 'ecc', curve: 'curve25519Legacy', userIDs: [{ email }], format: 'object', ...(date ? { date } : {}) })).privateKey;

describe('a secret signed for its owner', () => {
  it('opens for its owner, signed, named, and marked in its armor', async () => {
    const owner = await keyOf('doc@x.test');
    const wrapped = await encryptAndSignForOwner(SECRET, LABEL, owner);
    expect(wrapped).toContain(`Comment: ${SIGNED_FOR_OWNER_COMMENT}`);
    expect(await decryptFromOwner(wrapped, LABEL, owner)).toEqual({ data: SECRET, signed: true });
  });

  it('opens as unsigned what was stored before secrets were signed', async () => {
    const owner = await keyOf('doc@x.test');
    expect(await decryptFromOwner(await encryptToKey(SECRET, owner.toPublic()), LABEL, owner)).toEqual({ data: SECRET, signed: false });
  });

  it('refuses a stranger\'s signature, another label, another owner\'s secret and damaged armor as ACCOUNT_KEY_UNTRUSTED', async () => {
    const owner = await keyOf('doc@x.test');
    const stranger = await keyOf('x@attacker.test');
    const cases: Array<[string, string]> = [
      ['a stranger\'s signature', await openpgp.encrypt({ message: await openpgp.createMessage({ text: SECRET, filename: LABEL }), encryptionKeys: owner.toPublic(), signingKeys: stranger }) as string],
      ['the owner\'s and a stranger\'s signatures', await openpgp.encrypt({ message: await openpgp.createMessage({ text: SECRET, filename: LABEL }), encryptionKeys: owner.toPublic(), signingKeys: [owner, stranger] }) as string],
      ['another label', await encryptAndSignForOwner(SECRET, 'medgate account key other@x.test', owner)],
      ['another owner\'s', await encryptAndSignForOwner(SECRET, LABEL, stranger)],
      ['damaged armor', (await encryptAndSignForOwner(SECRET, LABEL, owner)).replace(/\n([A-Za-z0-9+/]{10})/, '\nAAAAAAAAAA')],
    ];
    for (const [what, wrapped] of cases) {
      await expect(decryptFromOwner(wrapped, LABEL, owner), what).rejects.toMatchObject({ code: 'ACCOUNT_KEY_UNTRUSTED' });
    }
  });

  it('a key created an hour ahead of this clock signs its secret, and a node an hour behind accepts it', async () => {
    const ahead = new Date(Date.now() + 3600_000);
    const owner = await keyOf('doc@x.test', ahead);
    const wrapped = await encryptAndSignForOwner(SECRET, LABEL, owner);
    // Dated at the key's creation, an hour from now: a plain verification at this node's time refuses it.
    await expect(openpgp.decrypt({ message: await openpgp.readMessage({ armoredMessage: wrapped }), decryptionKeys: owner, verificationKeys: owner.toPublic(), expectSigned: true }))
      .rejects.toThrow();
    expect(await decryptFromOwner(wrapped, LABEL, owner)).toEqual({ data: SECRET, signed: true });
  });
});
