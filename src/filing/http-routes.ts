/**
 * HTTP JSON API of the filing store for record servers. Every route requires the caller to present,
 * over TLS, the client certificate of a local record-server (`rmp`) account; anything else gets 401
 * and no data. They are served only by the HTTPS API listener (src/http/api-server.ts, `listen.api`),
 * never by the plain HTTP listener.
 */
import { X509Certificate } from 'node:crypto';
import type http from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { GatewayContext } from '../context.js';
import type { RouteHandler } from '../http/http-server.js';
import { filingFor } from './context.js';
import { searchForm } from './identity-hashes.js';
import { isMedgateError, MedgateError } from '../errors.js';

/** How a route learns the authenticated record server (undefined = nobody: 401). */
export type RecordServerOf = (req: http.IncomingMessage) => Promise<string | undefined> | string | undefined;

/** A malformed query parameter: answered 400 with the message (never echoes the value). */
const BAD_QUERY = 'API_BAD_QUERY';
/** A patient search with fewer letters than `api.minSearchLetters`: 400. */
const SEARCH_TOO_SHORT = 'API_SEARCH_TOO_SHORT';

function requiredParam(url: URL, name: string, maxLength = 64): string {
  const v = url.searchParams.get(name)?.trim();
  if (!v) throw new MedgateError(BAD_QUERY, `query parameter "${name}" is required`);
  if (v.length > maxLength) throw new MedgateError(BAD_QUERY, `query parameter "${name}" is longer than ${maxLength} characters`);
  return v;
}

function integerParam(url: URL, name: string, fallback: number, min: number, max: number): number {
  const v = url.searchParams.get(name);
  if (v === null) return fallback;
  const n = /^\d{1,15}$/.test(v) ? Number(v) : Number.NaN;
  if (!(n >= min && n <= max)) throw new MedgateError(BAD_QUERY, `query parameter "${name}" must be an integer from ${min} to ${max}`);
  return n;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(JSON.stringify(body));
}

/** The rmp account whose certificate the TLS client presented (chain already verified by the TLS layer), or undefined. */
export async function recordServerOf(ctx: GatewayContext, req: http.IncomingMessage): Promise<string | undefined> {
  const socket = req.socket as Partial<TLSSocket>;
  if (!socket.encrypted || !socket.authorized || typeof socket.getPeerCertificate !== 'function') return undefined;
  const peer = socket.getPeerCertificate(false);
  if (!peer?.raw) return undefined;
  for (const account of await ctx.store.accounts.list()) {
    if (account.kind !== 'rmp' || account.disabled || !account.certificatePem) continue;
    if (new X509Certificate(account.certificatePem).raw.equals(peer.raw)) return account.address;
  }
  return undefined;
}

/**
 * `/api/v1/patients?search=DUP`, `/api/v1/patient?id=P…`, `/api/v1/items?since=SEQ&limit=N`.
 * `callerOf` tells who the verified record server is: the HTTPS API server (src/http/api-server.ts)
 * passes the account it authenticated (chain + CRL + exact certificate); the default reads the TLS socket.
 */
export function filingRoutes(ctx: GatewayContext, callerOf: RecordServerOf = (req) => recordServerOf(ctx, req)): Record<string, RouteHandler> {
  // Each route returns its body and what the audit record says of it: which patient was read (its
  // pseudonymous id) or how many results, never a search term (a name prefix is medical).
  const guarded = (fn: (url: URL, actor: string) => Promise<{ body: unknown; audit: Record<string, unknown> }>): RouteHandler => async (req, res) => {
    const actor = await callerOf(req);
    if (!actor) {
      await ctx.audit.record({ actor: 'anonymous', action: 'filing.api', outcome: 'refused', details: { path: (req.url ?? '').split('?')[0] } });
      json(res, 401, { error: 'a record-server client certificate is required' });
      return;
    }
    const url = new URL(req.url ?? '/', 'https://localhost');
    try {
      const { body, audit } = await fn(url, actor);
      await ctx.audit.record({ actor, action: 'filing.api', outcome: 'ok', details: { path: url.pathname, ...audit } });
      json(res, 200, body);
    } catch (err) {
      if (!isMedgateError(err)) throw err;
      json(res, /NOT_FOUND/.test(err.code) ? 404 : 400, { error: err.message, code: err.code });
    }
  };
  return {
    '/api/v1/patients': guarded(async (url) => {
      const search = requiredParam(url, 'search');
      const min = ctx.config.api.minSearchLetters;
      // Letters as the search compares them (accents folded, punctuation dropped): "D." is one letter.
      if ([...searchForm(search)].filter((c) => /\p{L}/u.test(c)).length < min) {
        throw new MedgateError(SEARCH_TOO_SHORT, `query parameter "search" needs at least ${min} letters`);
      }
      const found = await (await filingFor(ctx)).search(search);
      return { body: found, audit: { results: found.length, patientIds: found.map((p) => p.id) } };
    }),
    '/api/v1/patient': guarded(async (url) => {
      const id = requiredParam(url, 'id');
      // The access code is for the operator to hand to the patient, not for the record server.
      const { accessCode: _operatorOnly, ...view } = await (await filingFor(ctx)).show(id);
      return { body: view, audit: { patientId: id } };
    }),
    '/api/v1/items': guarded(async (url) => {
      const since = integerParam(url, 'since', 0, 0, Number.MAX_SAFE_INTEGER);
      const limit = integerParam(url, 'limit', 100, 1, 1000);
      const items = await (await filingFor(ctx)).itemsSince(since, limit);
      return { body: items, audit: { since, limit, results: items.length } };
    }),
  };
}
