/**
 * What every page group of the console shares: its dependencies, the session check and CSRF
 * guards, rendering and auditing helpers, and the form readers. Each group (login, search, record,
 * document, send, access, emergencies) registers its own routes with a kit made once per app.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AddressLoginLimit } from '../../accounts/address-login-limit.js';
import type { GatewayContext } from '../../context.js';
import { filingFor, type FiledIdentity, type FilingService } from '../../filing/index.js';
import type { TrustStore } from '../../pki/index.js';
import type { PageUser } from '../html.js';
import type { RecordServerKey } from '../records.js';
import { ConsolePageError } from '../errors.js';
import type { ConsoleSession, SessionStore } from '../sessions.js';

export interface PagesDeps {
  ctx: GatewayContext;
  sessions: SessionStore;
  rmp: RecordServerKey;
  trust: TrustStore;
  codeFailures: AddressLoginLimit;
  sessionCookie: string;
}

export type Body = Record<string, unknown> | undefined;

/** One text field of a form: absent → '', repeated or too long → 400 (never echoed). */
export function field(body: Body, name: string, max: number): string {
  const v = body?.[name];
  if (v === undefined) return '';
  if (typeof v !== 'string' || v.length > max) throw new ConsolePageError(400, 'Formulaire invalide', 'Un champ du formulaire est invalide ou trop long.');
  return v;
}

export function fields(body: Body, name: string, max: number, maxCount: number): string[] {
  const v = body?.[name];
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  if (list.length > maxCount || list.some((x) => typeof x !== 'string' || x.length > max)) {
    throw new ConsolePageError(400, 'Formulaire invalide', 'Un champ du formulaire est invalide ou trop long.');
  }
  return list as string[];
}

/** A birth date typed as `AAAA-MM-JJ` (date field) or `JJ/MM/AAAA`. */
export function isoDate(text: string): string {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return t;
  const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(t);
  return m ? `${m[3]}-${m[2]}-${m[1]}` : '';
}

/** Letters, spaces, hyphens, apostrophes and dots only: a name, not markup. */
export const NAME_TEXT = /^[\p{L}\p{M} .'’-]*$/u;

export const DENIED = (what: 'dossier' | 'document'): ConsolePageError => new ConsolePageError(403,
  what === 'dossier' ? 'Dossier inaccessible' : 'Document inaccessible',
  'Ce dossier n’existe pas ou vous n’y avez pas accès. Pour le patient d’un autre médecin, saisissez son code d’accès (menu « Patient d’un autre médecin »).');

export function who(p: FiledIdentity): string {
  return `${p.familyName.toUpperCase()} ${p.givenName}`;
}

export function sexLabel(s: string | undefined): string {
  return s === 'M' ? 'Homme' : s === 'F' ? 'Femme' : '';
}

export const unavailable = (): ConsolePageError => new ConsolePageError(503, 'Lecture indisponible', 'La lecture en ligne n’est pas configurée sur cette passerelle (clé du serveur de dossiers). Demandez l’envoi par messagerie à l’opérateur.');

type PreHandler = (req: FastifyRequest, reply: FastifyReply, next: (err?: Error) => void) => void;

export interface PageKit extends PagesDeps {
  /** `console.*` of the configuration. */
  c: GatewayContext['config']['console'];
  html(reply: FastifyReply, body: string, status?: number): FastifyReply;
  userOf(req: FastifyRequest, reply: FastifyReply): PageUser;
  audit(req: FastifyRequest, action: string, outcome: 'ok' | 'refused', details: Record<string, unknown>): Promise<unknown>;
  filing(): Promise<FilingService>;
  csrf: PreHandler;
  /** Route options of a page behind a login: `post` checks the CSRF token as well. */
  post: { preHandler: Array<PreHandler | ((req: FastifyRequest, reply: FastifyReply) => Promise<void>)> };
  get: { preHandler: (req: FastifyRequest, reply: FastifyReply) => Promise<void> };
  startSession(req: FastifyRequest, reply: FastifyReply, doctor: string, via: ConsoleSession['via']): void;
}

export function pageKit(app: FastifyInstance, d: PagesDeps): PageKit {
  const { ctx, sessions } = d;
  const c = ctx.config.console;
  const html = (reply: FastifyReply, body: string, status = 200): FastifyReply => reply.code(status).type('text/html; charset=utf-8').send(body);
  const userOf = (req: FastifyRequest, reply: FastifyReply): PageUser => ({ doctor: req.consoleSession!.doctor, csrf: reply.generateCsrf({ userInfo: req.consoleSession!.id }) });
  const audit = (req: FastifyRequest, action: string, outcome: 'ok' | 'refused', details: Record<string, unknown>): Promise<unknown> =>
    ctx.audit.record({ actor: req.consoleSession?.doctor ?? 'anonymous', action, outcome, details: { via: 'console', remote: req.ip, ...details } });
  const filing = (): Promise<FilingService> => filingFor(ctx);

  /** The live session, its account still enabled; a page asks to log in again otherwise. */
  const requireSession = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const s = sessions.touch(req.cookies[d.sessionCookie]);
    const account = s ? await ctx.accounts.get(s.doctor) : undefined;
    if (s && (!account || account.disabled)) sessions.endAll(s.doctor);
    if (!s || !account || account.disabled) {
      if (req.method === 'GET') { await reply.redirect('/connexion', 303); return; }
      throw new ConsolePageError(401, 'Session expirée', 'Votre session a expiré ou vous n’êtes pas connecté. Reconnectez-vous.');
    }
    req.consoleSession = s;
  };
  const csrf = (app as unknown as { csrfProtection: PreHandler }).csrfProtection;
  const post = { preHandler: [requireSession, csrf] };
  const get = { preHandler: requireSession };

  const startSession = (req: FastifyRequest, reply: FastifyReply, doctor: string, via: ConsoleSession['via']): void => {
    const old = req.cookies[d.sessionCookie];
    if (old) sessions.end(old); // never reuse an id from before the login
    const s = sessions.create(doctor, via);
    reply.setCookie(d.sessionCookie, s.id, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
  };

  return { ...d, c, html, userOf, audit, filing, csrf, post, get, startSession };
}
