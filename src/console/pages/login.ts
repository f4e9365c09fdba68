/** Login (password or health-PKI certificate) and logout. */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isMedgateError } from '../../errors.js';
import { presentedChainPem, readCertificateInfo } from '../../pki/index.js';
import { csrfField, esc, layout, messagePage } from '../html.js';
import { field, type Body, type PageKit } from './page-kit.js';

export function registerLoginPages(app: FastifyInstance, k: PageKit): void {
  const { ctx, sessions, sessionCookie, trust, c, html, audit, csrf, post, startSession } = k;

  const loginPage = (req: FastifyRequest, reply: FastifyReply, notice?: string): string => {
    const token = reply.generateCsrf({ userInfo: req.cookies[sessionCookie] || 'anonymous' });
    const socket = req.raw.socket as Partial<TLSSocket>;
    const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : undefined;
    const certForm = cert?.raw
      ? `<h3>Carte CPS ou certificat</h3><p>Votre navigateur présente un certificat${cert.subject?.CN ? ` (${esc(cert.subject.CN)})` : ''}.</p>
<form method="post" action="/connexion/certificat">${csrfField(token)}<button type="submit">Se connecter avec ce certificat</button></form>`
      : '';
    return layout('Connexion', `<h2>Connexion</h2>${notice ? `<p class="notice">${esc(notice)}</p>` : ''}
<form method="post" action="/connexion">${csrfField(token)}
<label for="adresse">Adresse de messagerie sécurisée</label><input type="email" id="adresse" name="adresse" autocomplete="username" required maxlength="254">
<label for="motdepasse">Mot de passe</label><input type="password" id="motdepasse" name="motdepasse" autocomplete="current-password" required maxlength="1024">
<button type="submit">Se connecter</button></form>${certForm}`);
  };

  app.get('/', async (req, reply) => reply.redirect(sessions.touch(req.cookies[sessionCookie]) ? '/recherche' : '/connexion', 303));
  app.get('/connexion', async (req, reply) => html(reply, loginPage(req, reply)));

  app.post('/connexion', { preHandler: csrf, config: { rateLimit: { max: c.loginAttemptsPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
    const body = req.body as Body;
    const address = field(body, 'adresse', 254).trim().toLowerCase();
    const password = field(body, 'motdepasse', 1024);
    if (!address || !password) return html(reply, loginPage(req, reply, 'Saisissez votre adresse et votre mot de passe.'), 400);
    try {
      const unlocked = await ctx.accounts.unlock(address, password, { via: 'console', remote: req.ip });
      if (unlocked.account.kind !== 'person') {
        await ctx.audit.refused({ actor: address, action: 'console.login', outcome: 'refused', details: { via: 'console', remote: req.ip, reason: 'not-a-person' }, source: req.ip, reason: 'not-a-person' });
        return html(reply, loginPage(req, reply, 'La console est réservée aux comptes de professionnels de santé.'), 403);
      }
      startSession(req, reply, unlocked.account.address, 'password');
      return reply.redirect('/recherche', 303);
    } catch (err) {
      if (isMedgateError(err) && err.code === 'LOGIN_RATE_LIMITED') {
        return html(reply, messagePage('Trop de tentatives', 'Trop de connexions échouées depuis votre poste. Réessayez plus tard.', undefined, '/connexion'), 429);
      }
      if (isMedgateError(err) && err.code === 'CREDENTIALS_WRONG') return html(reply, loginPage(req, reply, 'Adresse ou mot de passe incorrect.'), 401);
      throw err;
    }
  });

  app.post('/connexion/certificat', { preHandler: csrf, config: { rateLimit: { max: c.loginAttemptsPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
    const refuse = async (reason: string, address = 'anonymous'): Promise<FastifyReply> => {
      // Aggregated per source and window, as every refusal before login (a flood of them writes a bounded number of records).
      await ctx.audit.refused({ actor: address, action: 'auth.certificate', outcome: 'refused', details: { via: 'console', remote: req.ip, reason }, source: req.ip, reason });
      return html(reply, loginPage(req, reply, 'Ce certificat ne permet pas de se connecter.'), 401);
    };
    const chain = presentedChainPem(req.raw.socket as TLSSocket);
    if (!chain) return refuse('no-certificate');
    const v = await trust.validate(chain, 'tls-client');
    if (!v.ok) return refuse(`certificate-invalid: ${v.code}`);
    for (const email of v.emails) {
      const account = await ctx.accounts.get(email.toLowerCase());
      if (!account) continue;
      if (account.kind !== 'person') return refuse('not-a-person', account.address);
      if (account.disabled) return refuse('account-disabled', account.address);
      if (readCertificateInfo(account.certificatePem).fingerprint256 !== v.fingerprint256) return refuse('certificate-mismatch', account.address);
      await ctx.audit.record({ actor: account.address, action: 'auth.certificate', outcome: 'ok', details: { via: 'console', remote: req.ip } });
      startSession(req, reply, account.address, 'certificate');
      return reply.redirect('/recherche', 303);
    }
    return refuse('no-account');
  });

  app.post('/deconnexion', post, async (req, reply) => {
    sessions.end(req.consoleSession!.id);
    await audit(req, 'console.logout', 'ok', {});
    reply.clearCookie(sessionCookie, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
    req.consoleSession = undefined;
    return html(reply, messagePage('Déconnexion', 'Vous êtes déconnecté.', undefined, '/connexion'));
  });
}
