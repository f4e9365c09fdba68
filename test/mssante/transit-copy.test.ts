/**
 * The MSSanté transit copy (issue 28): sealed to the gateway's transit key while it waits in the
 * queue, opened only to be sent. With the server's sealing worker pool, both happen in a worker as
 * submissions do (the encryption's copies of the clear message live there, not on the event loop);
 * with or without a pool, only the transit key's own signature opens it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MedgateConfig } from '../../src/config/schema.js';
import type * as GatewayKeys from '../../src/crypto/gateway-keys.js';
import type * as Keys from '../../src/crypto/keys.js';
import type * as Seal from '../../src/crypto/seal/index.js';
import type { DirectoryService } from '../../src/directory/directory-service.js';
import type * as Sealer from '../../src/message/sealer.js';
import type * as PoolModule from '../../src/message/worker/seal-pool.js';
import type * as Transit from '../../src/message/transit-seal.js';

// From dist, as the server runs them: the pool's worker is dist's seal-worker.js (run from source it
// would need a TypeScript loader in the worker).
const dist = async <T>(p: string): Promise<T> => (await import(new URL(`../../dist/${p}`, import.meta.url).href)) as T;
const { ensureTransitKey } = await dist<typeof GatewayKeys>('crypto/gateway-keys.js');
const { generatePgpKey } = await dist<typeof Keys>('crypto/keys.js');
const { seal } = await dist<typeof Seal>('crypto/seal/index.js');
const { MessageSealer } = await dist<typeof Sealer>('message/sealer.js');
const { SealPool } = await dist<typeof PoolModule>('message/worker/seal-pool.js');
const { openTransit, sealForTransit } = await dist<typeof Transit>('message/transit-seal.js');
type SealPool = InstanceType<typeof SealPool>;
type MessageSealer = InstanceType<typeof MessageSealer>;

const DOMAIN = 'cabinet-transit.medgate.test';
const CLEAR = Buffer.from('From: a@x.test\r\nTo: b@y.test\r\nSubject: XDM/1.0/DDM+Note DUPONT Jean 30/01/1959\r\n\r\nbonjour\r\n');

describe('the MSSanté transit copy', () => {
  let dir: string;
  let pool: SealPool;
  let config: MedgateConfig;
  // The sealer's directory is not consulted for own copies (no recipient is resolved).
  const sealerWith = async (p?: SealPool): Promise<MessageSealer> => {
    const filing = await generatePgpKey('filing', `filing@${DOMAIN}`);
    const s = new MessageSealer(undefined as unknown as DirectoryService, DOMAIN, filing.privateKey);
    s.usePool(p);
    return s;
  };
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-transit-'));
    config = { domain: DOMAIN, dataDir: dir } as MedgateConfig;
    pool = new SealPool({ minThreads: 0, maxThreads: 1 });
  });
  afterAll(async () => {
    await pool.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('with a pool, is sealed and opened in a sealing worker', async () => {
    const sealer = await sealerWith(pool);
    const ctx = { config, sealer: async () => sealer };
    expect(pool.threads).toBe(0);
    const sealed = await sealForTransit(ctx, CLEAR);
    expect(pool.threads).toBe(1); // the pool started a thread for it: the work went there
    expect(sealed.includes('DUPONT')).toBe(false);
    expect(await openTransit(ctx, sealed)).toEqual(CLEAR);
  }, 60_000);

  for (const withPool of [true, false]) {
    it(`${withPool ? 'in a worker' : 'inline'}, a copy encrypted to the transit key but signed by another key does not open`, async () => {
      const sealer = await sealerWith(withPool ? pool : undefined);
      const ctx = { config, sealer: async () => sealer };
      const transit = await ensureTransitKey(dir, DOMAIN);
      const other = await generatePgpKey('intruder', `transit@${DOMAIN}`);
      const forged = await seal({
        raw: CLEAR,
        routing: { messageId: '', patient: null, document: { type: 'other', date: '2026-01-01' }, sender: { address: `transit@${DOMAIN}` }, recipients: [`transit@${DOMAIN}`] },
        signingKey: other.privateKey, recipientKeys: [transit.privateKey.toPublic()], filingKeys: [],
        envelope: { from: `transit@${DOMAIN}`, to: [`transit@${DOMAIN}`] },
      });
      await expect(openTransit(ctx, forged.sealed)).rejects.toMatchObject({ code: expect.stringMatching(/^SIGNER_UNKNOWN$|^SIGNATURE_INVALID$/) });
      // The genuine one opens the same way.
      expect(await openTransit(ctx, await sealForTransit(ctx, CLEAR))).toEqual(CLEAR);
    }, 60_000);
  }
});
