/**
 * Two gateways peered with each other, both built in this test process (startPreparedGateway: the
 * wiring `serve` uses, real sockets): cabinet-antony (A) and cardio-sceaux (B) by default, one
 * shared test CA, each peer entry pointing at the other's relay port on 127.0.0.1, directory exports
 * exchanged (users, keys, filing key, gateway certificate) as `medgate directory export` and `peer
 * import` would, through their services. On SQLite or on a PostgreSQL database each.
 *
 * For the tests that need no process to kill; test/smtp/relay-fixture.ts spawns `medgate serve`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ensureFilingKey } from '../../dist/crypto/gateway-keys.js';
import { ensurePostmaster } from '../../dist/mailbox/postmaster.js';
import { closePeerConnections } from '../../dist/smtp/outbound/send-to-peer.js';
import { tempDir } from './gateway.js';
import { prepareGatewayData, startPreparedGateway, type AccountSpec, type InProcessGateway, type PreparedGateway, type StoreKind } from './in-process-gateway.js';
import { freePorts } from './ports.js';

export interface PairSide {
  domain: string;
  accounts: AccountSpec[];
  /** Top-level config merged over the pair's (e.g. `filing`). */
  extra?: Record<string, unknown>;
}

export interface GatewayPair {
  root: string;
  caPem: string;
  a: InProcessGateway;
  b: InProcessGateway;
  stop(): Promise<void>;
}

/** Export of a prepared gateway's local users, as `medgate directory export` writes it. */
async function exportOf(p: PreparedGateway, file: string): Promise<string> {
  const keysDir = p.config.keysDir ?? p.config.dataDir;
  const filing = await ensureFilingKey(keysDir, p.config.domain);
  await ensurePostmaster(p.ctx as never);
  const certFile = path.join(keysDir, 'tls', 'gateway.crt.pem');
  fs.writeFileSync(file, await p.ctx.directory.exportLocal({ filingKeyArmored: filing.publicKeyArmored, gatewayCertificatePem: fs.readFileSync(certFile, 'utf8') }));
  return file;
}

export async function startGatewayPair(o: { store: StoreKind; a: PairSide; b: PairSide; queue?: Record<string, number> }): Promise<GatewayPair> {
  const root = tempDir(`medgate-pair-${o.store}-`);
  const caDir = path.join(root, 'ca');
  const [relayA, relayB] = await freePorts(2);
  // Retries come fast: a test waits for them.
  const queue = { pollMs: 100, retryBaseSeconds: 0.2, retryMaxSeconds: 1, delayNoticeAfterMinutes: 60, maxLifetimeHours: 1, ...o.queue };
  const prepared: PreparedGateway[] = [];
  const started: InProcessGateway[] = [];
  const stop = async (): Promise<void> => {
    // Each relay's graceful close waits for the connections the other's queue keeps open to it
    // (idle for 30 s after a delivery; smtp-server's close timeout is 30 s): they go first.
    for (const g of started) closePeerConnections(g.running.init.tls);
    await Promise.all(started.map((g) => g.stop()));
    await Promise.all(prepared.filter((p) => !started.some((g) => g.dir === p.dir)).map((p) => p.dispose()));
    fs.rmSync(root, { recursive: true, force: true });
  };
  const prepare = async (name: string, side: PairSide, relayPort: number, peer: PairSide, peerPort: number): Promise<PreparedGateway> => {
    const dir = path.join(root, name);
    fs.mkdirSync(dir);
    const p = await prepareGatewayData({
      store: o.store, dir, domain: side.domain, ports: { smtpRelay: relayPort },
      extra: {
        pki: { caDir, trustAnchors: [path.join(caDir, 'ca.pem')], crls: [path.join(caDir, 'crl.pem')] },
        peers: [{ domain: peer.domain, host: '127.0.0.1', port: peerPort }],
        queue,
        ...side.extra,
      },
      accounts: side.accounts,
    });
    prepared.push(p);
    return p;
  };
  try {
    // A first: it makes the shared test CA, which B then uses.
    const pa = await prepare('a', o.a, relayA!, o.b, relayB!);
    const pb = await prepare('b', o.b, relayB!, o.a, relayA!);
    const [exportA, exportB] = [await exportOf(pa, path.join(root, 'export-a.json')), await exportOf(pb, path.join(root, 'export-b.json'))];
    await pa.ctx.directory.importPeerFile(exportB);
    await pb.ctx.directory.importPeerFile(exportA);
    started.push(await startPreparedGateway(pa));
    started.push(await startPreparedGateway(pb));
    return { root, caPem: fs.readFileSync(path.join(caDir, 'ca.pem'), 'utf8'), a: started[0]!, b: started[1]!, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
