/**
 * `mssante.productReference` (issue 28 item 3): the ANS "référence produit" written as X-MSS-NIL.
 * Optional; when set, a value that could not be written as one header token is refused with the
 * reason, at configuration load, not at the first message.
 */
import { describe, expect, it } from 'vitest';
import { configSchema } from '../../src/config/schema.js';

const mssante = configSchema.shape.mssante;

describe('mssante.productReference', () => {
  it('is optional: absent, no X-MSS-NIL is configured', () => {
    expect(mssante.parse({}).productReference).toBeUndefined();
    expect(mssante.parse({ productReference: 'DEV935997' }).productReference).toBe('DEV935997');
  });

  it('refuses a reference that is not one printable ASCII token, saying what it must be', () => {
    for (const bad of ['', 'DEV 935997', 'DEV935997\r\nBcc: x@example.fr', 'référence', 'X'.repeat(65)]) {
      const result = mssante.safeParse({ productReference: bad });
      expect(result.success, JSON.stringify(bad)).toBe(false);
      expect(result.error?.issues[0]?.message).toBe('the reference as issued, printable ASCII without spaces, e.g. DEV935997');
    }
  });
});
