/**
 * The HTTPS JSON API for record servers (`listen.api`): the filing routes of src/filing/http-routes.ts
 * behind client-certificate authentication. TLS asks for a certificate but rejects nothing, so that
 * every refusal is a clear, audited 401 instead of a handshake reset; the application layer then
 * validates the chain and CRLs itself and requires the exact certificate of a local `rmp` account.
 */
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { GatewayContext } from '../context.js';
import { filingRoutes } from '../filing/http-routes.js';
import { presentedChainPem, readCertificateInfo, TrustStore, type GatewayTls } from '../pki/index.js';
import { ClientRateLimit } from './rate-limit.js';

export interface ApiServerOptions {
  tls: GatewayTls;
}

export interface RunningApiServer {
  port: number;
  close(): Promise<void>;
}

/** Why a caller was not let in (the audit `reason`; stable values). */
export type ApiAuthRefusal =
  | 'no-certificate'
  | 'certificate-invalid'
  | 'no-account'
  | 'not-a-record-server'
  | 'account-disabled'
  | 'certificate-mismatch';

export type ApiAuthResult =
  | { ok: true; address: string; fingerprint256: string }
  | { ok: false; reason: ApiAuthRefusal; detail?: string };

/** Bounds on slow or idle clients (a stuck client must not hold a socket forever). */
const HANDSHAKE_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const IDLE_SOCKET_MS = 60_000;
const KEEP_ALIVE_MS = 5_000;

const HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

function json(res: http.ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...HEADERS, ...extra });
  res.end(JSON.stringify(body));
}

/**
 * Who is calling: the certificate must validate (chain to the configured anchors, current CRL,
 * clientAuth), its email SAN must name a local `rmp` account, enabled, whose certificate is exactly
 * this one (SHA-256 of the DER). A valid certificate the gateway issued to someone else is refused.
 */
export async function authenticateRecordServer(ctx: GatewayContext, trust: TrustStore, socket: TLSSocket): Promise<ApiAuthResult> {
  const chain = presentedChainPem(socket);
  if (!chain) return { ok: false, reason: 'no-certificate' };
  const v = await trust.validate(chain, 'tls-client');
  if (!v.ok) return { ok: false, reason: 'certificate-invalid', detail: `${v.code}: ${v.reason}` };
  let sawAccount: ApiAuthRefusal = 'no-account';
  for (const email of v.emails) {
    const account = await ctx.store.accounts.get(email.toLowerCase());
    if (!account) continue;
    if (account.kind !== 'rmp') { sawAccount = 'not-a-record-server'; continue; }
    if (account.disabled) return { ok: false, reason: 'account-disabled', detail: account.address };
    if (readCertificateInfo(account.certificatePem).fingerprint256 !== v.fingerprint256) {
      return { ok: false, reason: 'certificate-mismatch', detail: account.address };
    }
    return { ok: true, address: account.address, fingerprint256: v.fingerprint256 };
  }
  return { ok: false, reason: sawAccount };
}

/** The pathname, or undefined when the request target is not a path (e.g. `*` or an absolute URL to elsewhere). */
function pathOf(req: http.IncomingMessage): string | undefined {
  const target = req.url ?? '';
  if (!target.startsWith('/')) return undefined;
  try {
    return new URL(target, 'https://api.invalid').pathname;
  } catch {
    return undefined;
  }
}

/** Starts the HTTPS API listener when `listen.api` is set; undefined when it is off. */
export async function startApiServer(ctx: GatewayContext, o: ApiServerOptions): Promise<RunningApiServer | undefined> {
  const { config, logger } = ctx;
  const port = config.listen.api;
  if (port === undefined) return undefined;
  const trust = new TrustStore(config.pki.trustAnchors, config.pki.crls);
  // The account each request was authenticated as; the routes read it instead of the TLS socket.
  const callers = new WeakMap<http.IncomingMessage, string>();
  const routes = filingRoutes(ctx, (req) => callers.get(req));
  const anchors = trust.anchorsPem();
  const rateLimit = new ClientRateLimit(config.api.rateLimit);
  const addressLimit = new ClientRateLimit(config.api.addressRateLimit);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const path = pathOf(req);
    const remote = req.socket.remoteAddress ?? 'unknown';
    // Per address, before anything else: a flood without a certificate is answered 429 unexamined.
    const early = addressLimit.take(remote);
    if (!early.ok) {
      await ctx.audit.refused({ actor: 'anonymous', action: 'api.rate-limit', outcome: 'refused', details: { reason: 'address-rate-limited', path: path ?? null, remote }, source: remote, reason: 'address-rate-limited' });
      if (early.firstRefusal) logger.warn({ remote, retryAfterSeconds: early.retryAfterSeconds }, 'api rate limit per address reached');
      json(res, 429, { error: `too many requests from your address: try again in ${early.retryAfterSeconds} s`, code: 'API_RATE_LIMITED' }, { 'retry-after': String(early.retryAfterSeconds) });
      return;
    }
    const auth = await authenticateRecordServer(ctx, trust, req.socket as TLSSocket);
    if (!auth.ok) {
      // The path only (the query may carry the first letters of a patient's name).
      await ctx.audit.refused({ actor: 'anonymous', action: 'api.auth', outcome: 'refused', details: { reason: auth.reason, ...(auth.detail ? { detail: auth.detail } : {}), path: path ?? null, remote }, source: remote, reason: auth.reason });
      logger.warn({ reason: auth.reason, remote }, 'api request refused');
      json(res, 401, { error: 'a record-server client certificate is required', reason: auth.reason });
      return;
    }
    // Per certificate, after authentication: a refused caller costs no bucket, a valid one cannot drain another's.
    const rate = rateLimit.take(auth.fingerprint256);
    if (!rate.ok) {
      if (rate.firstRefusal) {
        // Once per episode (not per request): a client hammering the API cannot flood the audit trail.
        await ctx.audit.record({ actor: auth.address, action: 'api.rate-limit', outcome: 'refused', details: { reason: 'rate-limited', path: path ?? null, remote, retryAfterSeconds: rate.retryAfterSeconds } });
        logger.warn({ actor: auth.address, remote, retryAfterSeconds: rate.retryAfterSeconds }, 'api rate limit reached');
      }
      json(res, 429, { error: `too many requests: try again in ${rate.retryAfterSeconds} s`, code: 'API_RATE_LIMITED' }, { 'retry-after': String(rate.retryAfterSeconds) });
      return;
    }
    if (req.method !== 'GET') {
      json(res, 405, { error: `method ${req.method ?? ''} not allowed: the API is read-only (GET)` }, { allow: 'GET' });
      return;
    }
    const route = path === undefined ? undefined : routes[path];
    if (!route) {
      json(res, 404, { error: 'not found', routes: Object.keys(routes) });
      return;
    }
    callers.set(req, auth.address);
    await route(req, res);
  };

  const server = https.createServer({
    cert: o.tls.certPem,
    key: o.tls.keyPem,
    // Listed in the CertificateRequest so clients pick the right certificate; not enforced by TLS.
    ...(anchors.length ? { ca: anchors } : {}),
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: config.tls.minVersion,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  }, (req, res) => {
    void handle(req, res).catch((err: unknown) => {
      // A code or an error name, never a message: a handler's message may quote what it was asked.
      logger.error({ code: errorCodeOf(err), path: pathOf(req) }, 'api handler failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  server.setTimeout(IDLE_SOCKET_MS, (socket) => socket.destroy());
  // A client speaking garbage or failing the handshake: Node drops the socket; we only log it.
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
    logger.debug({ code: err.code, remote: socket.remoteAddress }, 'api TLS handshake failed');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, config.listen.host, () => { server.off('error', reject); resolve(); });
  });
  const bound = (server.address() as AddressInfo).port;
  logger.info({ port: bound }, 'record-server API listening (HTTPS, client certificates)');
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

function errorCodeOf(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : typeof err;
}
