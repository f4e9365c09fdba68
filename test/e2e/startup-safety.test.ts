/**
 * Two ways a gateway could look healthy while it is not: revocation silently off because no CRL
 * can be read (it now fails closed and /healthz says so), and a listener that cannot start leaving
 * the others open (everything started is closed again).
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// From the build: startGateway runs its seal workers from dist (as `npm test` builds first).
import { loadConfig } from '../../dist/config/load.js';
import { createContext, type GatewayContext } from '../../dist/context.js';
import { startGateway, type RunningGateway } from '../../dist/server.js';
import { TrustStore } from '../../dist/pki/index.js';
import { CLI, prepareGateway, runCli, startServe, tempDir, writeGatewayConfig } from '../helpers/gateway.js';
import { freePorts } from '../helpers/ports.js';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';

const APP = 'logiciel@cabinet-antony.medgate.test';
const PW = 'correct horse battery';

describe('start-up safety', () => {
  let dir: string;
  let configFile: string;
  beforeAll(async () => {
    dir = tempDir();
    configFile = writeGatewayConfig(dir);
    await prepareGateway(configFile, [{ address: APP, kind: 'application', password: PW }]);
  }, 120_000);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('with every configured CRL unreadable, certificates are refused and /healthz reports it; the CRL back, they validate again', async () => {
    const crl = path.join(dir, 'certs', 'crl.pem');
    const ctx: GatewayContext = await createContext(loadConfig(configFile), { logDestination: 'stderr' });
    let gw: RunningGateway | undefined;
    try {
      const cert = (await ctx.store.accounts.get(APP))!.certificatePem!;
      const trust = new TrustStore(ctx.config.pki.trustAnchors, ctx.config.pki.crls);
      expect(await trust.validate(cert, 'tls-client')).toMatchObject({ ok: true });

      // (Started first: with the local test CA, a start publishes a fresh CRL.)
      gw = await startGateway(ctx);
      fs.renameSync(crl, `${crl}.away`);
      const refused = await trust.validate(cert, 'tls-client');
      expect(refused).toMatchObject({ ok: false, code: 'revocation-unavailable' });
      expect((refused as { reason: string }).reason).toMatch(/none of the configured CRL files/);
      const health = await fetch(`http://127.0.0.1:${gw.ports.http}/healthz`);
      expect(health.status).toBe(503);
      expect(JSON.stringify(await health.json())).toMatch(/pki\.crls/);

      fs.renameSync(`${crl}.away`, crl);
      expect(await trust.validate(cert, 'tls-client')).toMatchObject({ ok: true });
      expect((await fetch(`http://127.0.0.1:${gw.ports.http}/healthz`)).status).toBe(200);
    } finally {
      if (fs.existsSync(`${crl}.away`)) fs.renameSync(`${crl}.away`, crl);
      await gw?.close();
      await ctx.close();
    }
  }, 60_000);

  it('a listener that cannot start (port taken) closes the ones already started, and the start fails', async () => {
    const [submissionPort, imapPort] = await freePorts(2);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(imapPort, '127.0.0.1', resolve));
    try {
      const config = loadConfig(configFile);
      config.listen.smtpSubmission = submissionPort!;
      config.listen.imap = imapPort!;
      const ctx = await createContext(config, { logDestination: 'stderr' });
      try {
        // The operator's to fix, said in one line: which address, which setting, what to do.
        await expect(startGateway(ctx)).rejects.toMatchObject({
          code: 'LISTEN_FAILED',
          message: expect.stringMatching(new RegExp(`^cannot listen on 127\\.0\\.0\\.1:${imapPort} \\(listen\\.imap\\): the address is already in use`)),
        });
      } finally {
        await ctx.close();
      }
      // `medgate serve` says it in one line and exits 1, not as an internal error (70) with a stack.
      const squatted = path.join(dir, 'squatted.yaml');
      fs.writeFileSync(squatted, fs.readFileSync(configFile, 'utf8').replace(/^(\s*)imap: \d+$/m, `$1imap: ${imapPort}`));
      const r = await runCli(['serve', '--config', squatted]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(`medgate: cannot listen on 127.0.0.1:${imapPort} (listen.imap): the address is already in use (another medgate, or another program, listens there); stop what uses it or choose another port in the config [LISTEN_FAILED]`);
      // The submission port, opened before IMAP failed, is free again.
      const probe = net.createServer();
      await new Promise<void>((resolve, reject) => { probe.once('error', reject); probe.listen(submissionPort, '127.0.0.1', resolve); });
      await new Promise<void>((resolve) => probe.close(() => resolve()));
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  }, 60_000);

  it('the `medgate` bin runs serve with single-threaded GC; started as bare `node cli.js serve`, it says which flag is missing and how to start', async () => {
    const logOf = (logs: string[]) => logs.flatMap((l) => { try { return [JSON.parse(l) as { msg?: string; gc?: string; missing?: string[] }]; } catch { return []; } });
    // The built file itself, through its shebang (as an installed `medgate` command runs).
    const viaBin = await startServe(configFile, 90_000, { file: CLI, args: [] });
    try {
      expect(logOf(viaBin.logs).find((r) => r.msg === 'medgate started')?.gc).toBe('single-threaded');
      expect(logOf(viaBin.logs).some((r) => r.missing)).toBe(false);
    } finally {
      await viaBin.stop('SIGTERM');
    }
    const bare = await startServe(configFile, 90_000, { file: process.execPath, args: [CLI] });
    try {
      expect(logOf(bare.logs).find((r) => r.msg === 'medgate started')?.gc).toBe('parallel');
      // The warning is logged right after the start line: wait for it rather than for a fixed time.
      const deadline = Date.now() + 10_000;
      while (!logOf(bare.logs).some((r) => r.missing) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const warning = logOf(bare.logs).find((r) => r.missing);
      expect(warning?.missing).toEqual([...SERVE_NODE_FLAGS]);
      expect(warning?.msg).toContain(`node ${SERVE_NODE_FLAGS.join(' ')} dist/cli.js serve`);
    } finally {
      await bare.stop('SIGTERM');
    }
  }, 120_000);
});
