import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, pemToDer, type TestCa } from '../../src/pki/index.js';
import { RevocationIndex } from '../../src/pki/revocation-index.js';
import { makeTempDir, removeDir } from './helpers.js';

describe('RevocationIndex (peer gateways we deliver to)', () => {
  let dir: string;
  let ca: TestCa;
  let impostor: TestCa;
  beforeAll(async () => {
    dir = await makeTempDir('revindex');
    ca = await createTestCa({ dir: join(dir, 'ca'), commonName: 'medgate test CA' });
    impostor = await createTestCa({ dir: join(dir, 'impostor'), commonName: 'medgate test CA' }); // same name, other key
  });
  afterAll(async () => removeDir(dir));

  const der = (pem: string) => Buffer.from(pemToDer(pem));
  function files(crlPem: string | undefined): { crls: string[]; anchors: string[] } {
    const anchors = join(dir, 'anchors.pem');
    fs.writeFileSync(anchors, ca.certPem);
    const crl = join(dir, 'crl.pem');
    if (crlPem === undefined) fs.rmSync(crl, { force: true });
    else fs.writeFileSync(crl, crlPem);
    return { crls: [crl], anchors: [anchors] };
  }

  it('accepts a good certificate, refuses a revoked one, fails closed without a usable CRL', async () => {
    const good = await ca.issue({ profile: 'gateway', commonName: 'good.medgate.test', dnsNames: ['good.medgate.test'] });
    const bad = await ca.issue({ profile: 'gateway', commonName: 'bad.medgate.test', dnsNames: ['bad.medgate.test'] });
    await ca.revoke(bad.serial);

    const f = files(await ca.crlPem());
    const index = new RevocationIndex(f.crls, f.anchors);
    await index.refresh();
    expect(index.check([der(good.certPem)])).toEqual({ ok: true });
    expect(index.check([der(bad.certPem)])).toMatchObject({ ok: false, reason: expect.stringMatching(/revoked/) });

    // A CRL signed by another key under the same name is not believed: nothing can be checked.
    const forged = new RevocationIndex(files(await impostor.crlPem()).crls, f.anchors);
    await forged.refresh();
    expect(forged.check([der(good.certPem)])).toMatchObject({ ok: false, reason: expect.stringMatching(/no current CRL/) });

    // A stale CRL (nextUpdate passed) is not current revocation information.
    const stale = new RevocationIndex(files(await ca.crlPem({ thisUpdate: new Date(Date.now() - 10 * 86400_000), validityDays: 1 })).crls, f.anchors);
    await stale.refresh();
    expect(stale.check([der(good.certPem)])).toMatchObject({ ok: false });

    // No CRL file at all, though configured: refused.
    const missing = new RevocationIndex(files(undefined).crls, f.anchors);
    await missing.refresh();
    expect(missing.check([der(good.certPem)])).toMatchObject({ ok: false });

    // None configured: not checked (documented).
    const none = new RevocationIndex([], f.anchors);
    await none.refresh();
    expect(none.check([der(bad.certPem)])).toEqual({ ok: true });
  });

  it('changes generation when what it says changes (a new revocation), not when a CRL is merely re-read', async () => {
    const peer = await ca.issue({ profile: 'gateway', commonName: 'peer.medgate.test', dnsNames: ['peer.medgate.test'] });
    const f = files(await ca.crlPem());
    const index = new RevocationIndex(f.crls, f.anchors);
    await index.refresh();
    const first = index.generation;
    // The same revocations re-issued (new file, new mtime, new thisUpdate): pooled connections stay.
    files(await ca.crlPem());
    await index.refresh(new Date(Date.now() + 3600_000));
    expect(index.generation).toBe(first);
    await ca.revoke(peer.serial);
    files(await ca.crlPem());
    await index.refresh(new Date(Date.now() + 2 * 3600_000));
    expect(index.generation).toBe(first + 1);
    expect(index.check([der(peer.certPem)])).toMatchObject({ ok: false, reason: expect.stringMatching(/revoked/) });
  });
});
