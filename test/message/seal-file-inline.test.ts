/**
 * Where a large (spooled) submission is sealed (issue 31, memory): on a quiet gateway, with no
 * sealing thread running, on the main thread (a stream: the event loop serves between chunks)
 * rather than in a thread started for it (~60 MB of RSS for 30 s); in the pool as before when a
 * thread is already running, and for a second large seal while one runs on the main thread.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as PoolModule from '../../src/message/worker/seal-pool.js';
import type * as SealerModule from '../../src/message/sealer.js';
import type * as SealModule from '../../src/crypto/seal/index.js';
import type { DirectoryService } from '../../src/directory/directory-service.js';
import type { DirectoryEntry } from '../../src/store/types.js';
import { tempDir } from '../helpers/gateway.js';
import { largeMessage, makeUser, type TestUser } from '../crypto/fixtures.js';

// From dist, as the server runs them: the pool's worker is dist's seal-worker.js.
const dist = async <T>(p: string): Promise<T> => (await import(new URL(`../../dist/${p}`, import.meta.url).href)) as T;
const { SealPool } = await dist<typeof PoolModule>('message/worker/seal-pool.js');
const { MessageSealer } = await dist<typeof SealerModule>('message/sealer.js');
const { open } = await dist<typeof SealModule>('crypto/seal/index.js');
type SealPool = InstanceType<typeof SealPool>;

const entry = (address: string): DirectoryEntry => ({
  address, mailboxType: 'PER', idType: '8', idValue: '810000000001', nationalId: '810000000001', civility: 'M', familyName: 'Demo',
  givenName: 'Paul', professionCode: '10', professionLabel: 'Médecin', specialtyCode: null, specialtyLabel: null, organisation: null,
  status: 'active', certificatePem: null, pgpPublicKey: null, source: 'local', updatedAt: new Date().toISOString(),
} as DirectoryEntry);

describe('a large submission is sealed on the main thread only when no sealing thread runs', () => {
  let paul: TestUser, claire: TestUser, filing: TestUser;
  let dir: string;
  let rawFile: string;
  let raw: Buffer;
  let pool: SealPool;
  let sealer: InstanceType<typeof MessageSealer>;
  let toPool = 0;
  let n = 0;

  beforeAll(async () => {
    [paul, claire, filing] = await Promise.all([
      makeUser('paul.demo@cabinet-antony.medgate.test'), makeUser('claire.martin@cardio-sceaux.medgate.test'), makeUser('filing@cardio-sceaux.medgate.test'),
    ]);
    dir = tempDir('medgate-sealinline-');
    raw = largeMessage(3 * 1024 * 1024);
    rawFile = path.join(dir, 'raw.eml');
    fs.writeFileSync(rawFile, raw);
    pool = new SealPool({ minThreads: 0, maxThreads: 2, idleTimeoutMs: 60_000 });
    // Counts the seals handed to the pool (the real method still runs).
    const sealFile = pool.sealFile.bind(pool);
    pool.sealFile = (req) => { toPool++; return sealFile(req); };
    sealer = new MessageSealer(undefined as unknown as DirectoryService, 'cabinet-antony.medgate.test', filing.privateKey);
    sealer.usePool(pool);
  });
  afterAll(async () => {
    await pool.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const sealOne = async () => {
    const outFile = path.join(dir, `out-${n++}.eml`);
    const res = await sealer.sealFile({
      rawFile, outFile, envelopeFrom: paul.email,
      sender: { address: paul.email, pgpKey: paul.privateKey, entry: entry(paul.email) },
      recipients: [{ ok: true, format: 'openpgp', address: claire.email, local: false, entry: entry(claire.email), publicKey: claire.publicKey, filingKey: filing.publicKey }],
    });
    const opened = await open({
      sealed: fs.readFileSync(outFile), decryptionKey: claire.privateKey,
      resolveSigner: async () => ({ publicKey: paul.publicKey, status: 'active' as const }),
    });
    expect(opened.raw.equals(raw)).toBe(true);
    expect(opened.verification.fingerprint).toBe(paul.publicKey.getFingerprint());
    expect(res.sealed.size).toBe(fs.statSync(outFile).size);
    return res;
  };

  it('quiet gateway: sealed here, no thread started; one at a time here, the next one in the pool', async () => {
    expect(pool.threads).toBe(0);
    await sealOne();
    expect(toPool).toBe(0);
    expect(pool.threads).toBe(0);
    // Two at once: the first here, the second in a thread.
    await Promise.all([sealOne(), sealOne()]);
    expect(toPool).toBe(1);
    expect(pool.threads).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('with a sealing thread running (a busy gateway), in the pool as before', async () => {
    expect(pool.threads).toBeGreaterThanOrEqual(1); // kept from the previous seal (60 s idle timeout)
    const before = toPool;
    await sealOne();
    expect(toPool).toBe(before + 1);
  }, 120_000);
});
