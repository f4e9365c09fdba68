/**
 * The record console (`listen.console`): an HTTPS Fastify server where doctors consult the shared
 * record. Security plug-ins: @fastify/helmet (CSP without any inline script or style),
 * @fastify/cookie (session cookie `__Host-medgate`: HttpOnly, Secure, SameSite=Strict),
 * @fastify/csrf-protection (a token bound to the session on every POST), @fastify/rate-limit (per
 * source address; the login route lower), @fastify/formbody with a body limit. Password logins go
 * through AccountService.unlock, so they share the per-address failure limits of SMTP and IMAP.
 *
 * Pages are rendered on the server (src/console/pages/, one file per route group) and work without JavaScript. Nothing a
 * client sends is logged or written back into a page; patient search letters travel only in POST
 * bodies and appear in no URL, log or audit record.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import type { GatewayContext } from '../context.js';
import { TrustStore, type GatewayTls } from '../pki/index.js';
import { ConsolePageError } from './errors.js';
import { CSS, messagePage } from './html.js';
import { registerPages } from './pages/index.js';
import { RecordServerKey, recordServerAddress } from './records.js';
import { SessionStore, type ConsoleSession } from './sessions.js';
import { AddressLoginLimit } from '../accounts/address-login-limit.js';
import { ConnectionGuard } from '../net/connection-guard.js';
import { addressKey } from '../net/address-key.js';
import { guardHttpServer } from '../net/http-guard.js';

export interface RunningConsole {
  port: number;
  close(): Promise<void>;
}

export const SESSION_COOKIE = '__Host-medgate';
export const CSRF_COOKIE = '__Host-medgate-csrf';

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: ConsoleSession;
  }
}


function errorPage(err: FastifyError | ConsolePageError): { status: number; title: string; text: string } {
  if (err instanceof ConsolePageError) return { status: err.statusCode, title: err.title, text: err.text };
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
  switch (err.code) {
    case 'FST_CSRF_INVALID_TOKEN':
    case 'FST_CSRF_MISSING_SECRET':
      return { status: 403, title: 'Formulaire expiré', text: 'Ce formulaire n’est plus valable (jeton de sécurité absent ou invalide). Rechargez la page et recommencez.' };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, title: 'Formulaire trop volumineux', text: 'Les données envoyées dépassent la taille autorisée.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, title: 'Format non accepté', text: 'Seuls les formulaires HTML sont acceptés.' };
    case 'CONSOLE_RATE_LIMITED':
      return { status: 429, title: 'Trop de requêtes', text: 'Trop de requêtes depuis votre poste. Patientez une minute puis recommencez.' };
    default:
      if (status === 404) return { status, title: 'Page introuvable', text: 'Cette page n’existe pas.' };
      if (status < 500) return { status, title: 'Requête refusée', text: 'La requête est invalide.' };
      return { status: 500, title: 'Erreur interne', text: 'Une erreur interne est survenue. Elle a été journalisée ; réessayez plus tard.' };
  }
}

/** Starts the console when `listen.console` is set; undefined when it is off. */
export async function startConsole(ctx: GatewayContext, o: { tls: GatewayTls; guard?: ConnectionGuard }): Promise<RunningConsole | undefined> {
  const { config, logger } = ctx;
  const port = config.listen.console;
  if (port === undefined) return undefined;
  const c = config.console;
  const trust = new TrustStore(config.pki.trustAnchors, config.pki.crls);
  const anchors = trust.anchorsPem();
  const sessions = new SessionStore(c.idleMinutes * 60_000, c.maxSessionHours * 3_600_000);
  const rmp = new RecordServerKey(ctx, await recordServerAddress(ctx));
  if (!rmp.available) logger.warn('record console: no record-server password file (console.recordServerPasswordFile): documents cannot be read online nor sent');
  const codeFailures = ctx.accounts.failureLimit('access-code', { maxFailuresPerAddress: c.maxAccessCodeFailures, windowSeconds: config.security.loginLimits.windowSeconds, slowAfterFailures: 0, delayMs: 0, maxDelayMs: 0 });

  const app = Fastify({
    https: {
      cert: o.tls.certPem,
      key: o.tls.keyPem,
      // A CPS / health-PKI client certificate is asked for, never required: password login stays possible.
      ...(anchors.length ? { ca: anchors } : {}),
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: config.tls.minVersion,
    },
    logger: false,
    bodyLimit: c.maxBodyBytes,
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    // Never echo the client's path or parameters in an error.
    return503OnClosing: true,
    routerOptions: { maxParamLength: 100, ignoreTrailingSlash: true },
  });

  // Connection limits (limits.connections.console), on the server Fastify made, before it listens.
  const guard = o.guard ?? new ConnectionGuard(config.limits.connections.console);
  guardHttpServer(app.server, guard, { tls: true });

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'none'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        frameSrc: ["'self'"],
        frameAncestors: ["'self'"],
        formAction: ["'self'"],
        baseUri: ["'none'"],
        connectSrc: ["'self'"],
      },
    },
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    referrerPolicy: { policy: 'no-referrer' },
    crossOriginEmbedderPolicy: false,
  });
  await app.register(fastifyCookie, { secret: randomBytes(32).toString('hex') });
  // HTML forms only: no JSON or text bodies (415).
  app.removeAllContentTypeParsers();
  await app.register(fastifyFormbody, { bodyLimit: c.maxBodyBytes });
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: CSRF_COOKIE,
    cookieOpts: { path: '/', httpOnly: true, secure: true, sameSite: 'strict', signed: true },
    // Bound to the session cookie: a token from another session (or from before login) is refused.
    getUserInfo: (req: FastifyRequest) => req.cookies[SESSION_COOKIE] || 'anonymous',
    csrfOpts: { hmacKey: randomBytes(32).toString('hex') },
  });
  await app.register(fastifyRateLimit, {
    max: c.requestsPerMinute,
    timeWindow: 60_000,
    // An IPv6 client by its /64 (one host can hold a whole /64), as the connection caps count it.
    keyGenerator: (req) => addressKey(req.ip),
    errorResponseBuilder: (_req, context) => Object.assign(new Error('rate limited'), { statusCode: 429, code: 'CONSOLE_RATE_LIMITED', retryAfter: context.after }),
    onExceeded: (req) => {
      // Aggregated per source and window (src/audit/audit-trail.ts): a hammering client, or many,
      // cannot flood the audit trail.
      void ctx.audit.refused({ actor: req.consoleSession?.doctor ?? 'anonymous', action: 'console.rate-limit', outcome: 'refused', details: { remote: req.ip, route: req.routeOptions.url ?? null }, source: req.ip, reason: 'rate-limited' }).catch(() => undefined);
    },
  });

  // Every page may show patient data: never cached, anywhere.
  app.addHook('onSend', async (req, reply, payload) => {
    if (!req.url.startsWith('/static/')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler(async (err: FastifyError | ConsolePageError, req, reply) => {
    const page = errorPage(err);
    if (page.status >= 500) logger.error({ code: (err as FastifyError).code ?? err.name, route: req.routeOptions.url ?? null }, 'record console handler failed');
    if (page.status === 429) reply.header('retry-after', '60');
    const user = req.consoleSession ? { doctor: req.consoleSession.doctor, csrf: reply.generateCsrf({ userInfo: req.consoleSession.id }) } : undefined;
    return reply.code(page.status).type('text/html; charset=utf-8').send(messagePage(page.title, page.text, user));
  });
  app.setNotFoundHandler(async (req, reply) => {
    const user = req.consoleSession ? { doctor: req.consoleSession.doctor, csrf: reply.generateCsrf({ userInfo: req.consoleSession.id }) } : undefined;
    return reply.code(404).type('text/html; charset=utf-8').send(messagePage('Page introuvable', 'Cette page n’existe pas.', user));
  });

  app.get('/static/console.css', async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(CSS));

  registerPages(app, { ctx, sessions, rmp, trust, codeFailures, sessionCookie: SESSION_COOKIE });

  await app.listen({ port, host: config.listen.host });
  const bound = (app.server.address() as AddressInfo).port;
  logger.info({ port: bound, recordServer: rmp.address ?? null, reading: rmp.available }, 'record console listening (HTTPS)');
  return {
    port: bound,
    close: async () => {
      guard.stop();
      app.server.closeAllConnections?.();
      await app.close();
    },
  };
}
