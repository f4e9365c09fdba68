import type { GatewayContext } from './context.js';
import { HttpServer } from './http/http-server.js';
import { initialise, removeLeftoverSpool, type Initialised } from './init/initialise.js';
import { MedgateError } from './errors.js';
import { listenFailure } from './listen-failure.js';
import path from 'node:path';
import { Metrics } from './metrics.js';
import { readCrlFiles } from './pki/index.js';
import { crlStates } from './pki/crl-status.js';
import { SealPool } from './message/worker/seal-pool.js';
import { startSubmission } from './smtp/submission/index.js';
import { startQueueWorker } from './smtp/outbound/queue-worker.js';
import { startReceiptSender } from './filing/receipts/receipt-sender.js';
import { startRelay } from './smtp/relay/relay-server.js';
import { startImap } from './mailbox/imap-listener.js';
import { autoconfigRoutes } from './http/autoconfig.js';
import { autodiscoverRoutes } from './http/autodiscover.js';
import { startApiServer } from './http/api-server.js';
import type { startConsole } from './console/server.js';
import { missingServeFlags, SERVE_NODE_FLAGS } from './runtime/node-flags.js';
import { unsupportedNodeWarning } from './runtime/node-version.js';
import { collectOftenWhen } from './runtime/streamed-garbage.js';

export interface RunningGateway {
  init: Initialised;
  ports: { http: number; [listener: string]: number };
  close(): Promise<void>;
}

/** Wires the services together and starts every listener that exists. */
export interface StartOptions {
  /** PostgreSQL: how long to wait for the gateway keys `medgate init` makes (default 60 s). */
  waitForInitMs?: number;
}

export async function startGateway(ctx: GatewayContext, opts: StartOptions = {}): Promise<RunningGateway> {
  const { config, logger } = ctx;
  // Only the serving process owns the spool: what a crash left there (ciphertext whose key is gone) goes first.
  const leftover = removeLeftoverSpool(path.join(config.dataDir, 'spool'));
  if (leftover) logger.warn({ files: leftover }, 'removed spool files left by an earlier crash');
  // A large sealed message moved into the store just before a crash, its row never committed.
  const orphans = await ctx.store.mail.removeOrphanBlobFiles();
  if (orphans) logger.warn({ files: orphans }, 'removed stored message files no record refers to');
  // The serving process's store upkeep off the thread that serves every session (SQLite's checkpoints).
  ctx.store.backgroundUpkeep?.((reason) => logger.warn({ reason }, 'store upkeep stays on the main thread'));
  // Nodes sharing one database must share one set of gateway keys: a node never makes its own. It
  // waits for the ones `medgate init` makes (started at the same moment, or before it).
  const init = await initialise(ctx, {
    createCaIfMissing: config.demo.enabled,
    ...(ctx.store.kind === 'postgres' ? {
      waitForGatewayKeysMs: opts.waitForInitMs ?? 60_000,
      onWaiting: (missing: string[]) => logger.warn({ missing }, 'waiting for `medgate init` to create the gateway keys'),
    } : {}),
  });
  const metrics = new Metrics();
  metrics.watchStore(ctx.store);
  metrics.watchRevocation(config.pki.crls);
  metrics.watchAuditRefusals(() => ctx.audit.refusalCounts());
  // Sealing runs in worker threads: crypto uses every core, the event loop stays free for clients.
  // They start with the work and end when idle (workers.sealing): an idle gateway holds none.
  const sealing = config.workers.sealing;
  const sealPool = new SealPool({ minThreads: sealing.minThreads, ...(sealing.maxThreads ? { maxThreads: sealing.maxThreads } : {}), idleTimeoutMs: sealing.idleSeconds * 1000 });
  (await ctx.sealer()).usePool(sealPool);
  // No sealing thread running: the gateway is quiet, and its main thread streams and seals large
  // messages itself (MessageSealer.sealFile); it frees their dead chunks every 1 MB, not 4.
  collectOftenWhen(() => sealPool.threads === 0);
  metrics.watchThreads(sealPool);
  const http = new HttpServer({
    host: config.listen.host,
    port: config.listen.http,
    logger,
    metrics,
    routes: autoconfigRoutes(config),
    caseInsensitiveRoutes: autodiscoverRoutes(config, logger),
    guard: metrics.connectionGuard('http', config.limits.connections.http),
    health: async () => {
      const problems: string[] = [];
      try {
        await ctx.store.ping();
      } catch {
        problems.push(`store unavailable (${ctx.store.kind})`);
      }
      // Fail-closed revocation refuses every client and peer certificate: the operator must know.
      if (readCrlFiles(config.pki.crls).unavailable) problems.push('pki.crls: none of the configured CRL files can be read (certificates are refused)');
      return problems;
    },
  });
  // What started is stopped again if a later listener cannot start (port taken, bad certificate):
  // a half-started gateway must not keep some ports open.
  const started: Array<{ close(): Promise<void> }> = [];
  const start = async <T extends { close(): Promise<void> }>(what: Promise<T>): Promise<T> => {
    const running = await what;
    started.push(running);
    return running;
  };
  let httpPort: number, submission: Awaited<ReturnType<typeof startSubmission>>, relay: Awaited<ReturnType<typeof startRelay>>;
  let queueWorker: Awaited<ReturnType<typeof startQueueWorker>>, imap: Awaited<ReturnType<typeof startImap>>;
  let api: Awaited<ReturnType<typeof startApiServer>>;
  let receipts: ReturnType<typeof startReceiptSender>;
  let consoleServer: Awaited<ReturnType<typeof startConsole>>;
  try {
    httpPort = await http.listen();
    started.push(http);
    submission = await start(startSubmission(ctx, { tls: init.tls, guard: metrics.connectionGuard('submission', config.limits.connections.submission) }));
    relay = await start(startRelay(ctx, { tls: init.tls, guard: metrics.connectionGuard('relay', config.limits.connections.relay) }));
    queueWorker = await start(startQueueWorker(ctx, { tls: init.tls }));
    imap = await start(startImap(ctx, { tls: init.tls, guard: metrics.connectionGuard('imap', config.limits.connections.imap) }));
    // Read receipts recorded before a crash or restart are sent now (after the postmaster is published).
    started.push(receipts = startReceiptSender(ctx));
    // Record-server API: HTTPS + client certificate only (off unless listen.api is set).
    api = await startApiServer(ctx, { tls: init.tls, guard: metrics.connectionGuard('api', config.limits.connections.api) });
    if (api) started.push(api);
    // Record console for doctors: HTTPS, off unless listen.console is set.
    // Fastify and its plugins are loaded only when the console is on (~10 MB at rest otherwise).
    consoleServer = config.listen.console === undefined ? undefined : await (await import('./console/server.js')).startConsole(ctx, { tls: init.tls, guard: metrics.connectionGuard('console', config.limits.connections.console) });
  } catch (err) {
    for (const s of started.reverse()) await s.close().catch(() => undefined);
    await sealPool.close().catch(() => undefined);
    throw listenFailure(err, config.listen);
  }
  metrics.up.set(1);
  await ctx.audit.record({ actor: 'system', action: 'gateway.start', outcome: 'ok', details: { domain: config.domain } });
  const ports = { http: httpPort, ...submission.ports, smtpRelay: relay.port, ...imap.ports, ...(api ? { api: api.port } : {}), ...(consoleServer ? { console: consoleServer.port } : {}) };
  const missingFlags = missingServeFlags();
  logger.info({ ports, node: ctx.nodeId, nodejs: process.version, domain: config.domain, store: ctx.store.kind, gc: process.execArgv.includes('--single-threaded-gc') ? 'single-threaded' : 'parallel' }, 'medgate started');
  const nodeWarning = unsupportedNodeWarning();
  if (nodeWarning) logger.warn({ nodejs: process.version }, nodeWarning);
  if (missingFlags.length) {
    logger.warn({ missing: missingFlags },
      `node was started without ${missingFlags.join(' ')}: without its GC flags serve spends more CPU on garbage collection (V8's helper threads compete with the sealing workers, full collections run too often; on 2 cores a quarter to a third of submission throughput); start with: node ${SERVE_NODE_FLAGS.join(' ')} dist/cli.js serve (docs/operations.md)`);
  }
  // A CRL going missing, unreadable or stale turns every certificate of its issuer into a 4xx
  // (retry): said once when it happens and once when it is current again, not per refusal.
  let crlProblem = '';
  const watchCrls = (): void => {
    const states = crlStates(config.pki.crls);
    const problem = states.missing + states.unreadable + states.stale > 0 ? JSON.stringify(states) : '';
    if (problem && problem !== crlProblem) logger.warn({ crls: states }, 'revocation data unavailable: certificates of the issuers concerned get 4xx until the CRL is current (pki.crls)');
    else if (!problem && crlProblem) logger.info({ crls: states }, 'revocation data current again');
    crlProblem = problem;
  };
  watchCrls();
  const crlTimer = setInterval(watchCrls, 5_000);
  crlTimer.unref();
  let closed = false;
  return {
    init,
    ports,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(crlTimer);
      metrics.up.set(0);
      await submission.close();
      // Our pooled connections to peers first: a peer stopping meanwhile need not wait for them.
      await queueWorker.close();
      await relay.close();
      await imap.close();
      await receipts.close();
      await api?.close();
      await consoleServer?.close();
      await http.close();
      (await ctx.sealer()).usePool(undefined);
      await sealPool.close();
      // Refusals still being counted are written before the stop record.
      await ctx.audit.flushRefusals();
      await ctx.audit.record({ actor: 'system', action: 'gateway.stop', outcome: 'ok', details: {} });
      logger.info('medgate stopped');
    },
  };
}
