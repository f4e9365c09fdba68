/**
 * The console's routes: login (password or health-PKI certificate), patient search, the record by
 * tabs, reading a document, "send to me", consent by access code, emergency access and its list.
 * Each handler reads through the filing and account services (never the store's tables directly)
 * and audits what was seen: doctor, patient id, document id — never names, letters or content.
 */
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AddressLoginLimit } from '../accounts/address-login-limit.js';
import type { GatewayContext } from '../context.js';
import { isMedgateError } from '../errors.js';
import { filingFor } from '../filing/context.js';
import type { DocumentView, FilingService } from '../filing/filing-service.js';
import type { FiledIdentity } from '../filing/identity-hashes.js';
import { searchForm } from '../filing/identity-hashes.js';
import { sendRecord } from '../filing/record-request.js';
import { TABS, type Tab } from '../filing/tabs.js';
import { writerOf } from '../filing/authors.js';
import { summarySections } from '../message/classify/index.js';
import { presentedChainPem } from '../http/api-server.js';
import { readCertificateInfo } from '../pki/index.js';
import type { TrustStore } from '../smtp/submission/trust.js';
import { csrfField, esc, frDate, frDateTime, layout, messagePage, roleLabel, TAB_LABELS, typeLabel, type PageUser } from './html.js';
import { accessTo, decodeText, DOCUMENT_ID, findByIdentity, hprimResults, openDocumentOrRefuse, PATIENT_ID, searchOwnPatients, type RecordServerKey } from './records.js';
import { ConsolePageError } from './errors.js';
import type { ConsoleSession, SessionStore } from './sessions.js';

export interface PagesDeps {
  ctx: GatewayContext;
  sessions: SessionStore;
  rmp: RecordServerKey;
  trust: TrustStore;
  codeFailures: AddressLoginLimit;
  sessionCookie: string;
}

type Body = Record<string, unknown> | undefined;

/** One text field of a form: absent → '', repeated or too long → 400 (never echoed). */
function field(body: Body, name: string, max: number): string {
  const v = body?.[name];
  if (v === undefined) return '';
  if (typeof v !== 'string' || v.length > max) throw new ConsolePageError(400, 'Formulaire invalide', 'Un champ du formulaire est invalide ou trop long.');
  return v;
}

function fields(body: Body, name: string, max: number, maxCount: number): string[] {
  const v = body?.[name];
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  if (list.length > maxCount || list.some((x) => typeof x !== 'string' || x.length > max)) {
    throw new ConsolePageError(400, 'Formulaire invalide', 'Un champ du formulaire est invalide ou trop long.');
  }
  return list as string[];
}

/** A birth date typed as `AAAA-MM-JJ` (date field) or `JJ/MM/AAAA`. */
function isoDate(text: string): string {
  const t = text.trim();
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return t;
  const m = /^(\d{2})\/(\d{2})\/(\d{4})$/.exec(t);
  return m ? `${m[3]}-${m[2]}-${m[1]}` : '';
}

/** Letters, spaces, hyphens, apostrophes and dots only: a name, not markup. */
const NAME_TEXT = /^[\p{L}\p{M} .'’-]*$/u;

const DENIED = (what: 'dossier' | 'document'): ConsolePageError => new ConsolePageError(403,
  what === 'dossier' ? 'Dossier inaccessible' : 'Document inaccessible',
  'Ce dossier n’existe pas ou vous n’y avez pas accès. Pour le patient d’un autre médecin, saisissez son code d’accès (menu « Patient d’un autre médecin »).');

function who(p: FiledIdentity): string {
  return `${p.familyName.toUpperCase()} ${p.givenName}`;
}

function sexLabel(s: string | undefined): string {
  return s === 'M' ? 'Homme' : s === 'F' ? 'Femme' : '';
}

export function registerPages(app: FastifyInstance, d: PagesDeps): void {
  const { ctx, sessions, rmp } = d;
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
  const csrf = (app as unknown as { csrfProtection: (req: FastifyRequest, reply: FastifyReply, next: (err?: Error) => void) => void }).csrfProtection;
  const post = { preHandler: [requireSession, csrf] };
  const get = { preHandler: requireSession };

  const startSession = (req: FastifyRequest, reply: FastifyReply, doctor: string, via: ConsoleSession['via']): void => {
    const old = req.cookies[d.sessionCookie];
    if (old) sessions.end(old); // never reuse an id from before the login
    const s = sessions.create(doctor, via);
    reply.setCookie(d.sessionCookie, s.id, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
  };

  // ---------- login / logout ----------

  const loginPage = (req: FastifyRequest, reply: FastifyReply, notice?: string): string => {
    const token = reply.generateCsrf({ userInfo: req.cookies[d.sessionCookie] || 'anonymous' });
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

  app.get('/', async (req, reply) => reply.redirect(sessions.touch(req.cookies[d.sessionCookie]) ? '/recherche' : '/connexion', 303));
  app.get('/connexion', async (req, reply) => html(reply, loginPage(req, reply)));

  app.post('/connexion', { preHandler: csrf, config: { rateLimit: { max: c.loginAttemptsPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
    const body = req.body as Body;
    const address = field(body, 'adresse', 254).trim().toLowerCase();
    const password = field(body, 'motdepasse', 1024);
    if (!address || !password) return html(reply, loginPage(req, reply, 'Saisissez votre adresse et votre mot de passe.'), 400);
    try {
      const unlocked = await ctx.accounts.unlock(address, password, { via: 'console', remote: req.ip });
      if (unlocked.account.kind !== 'person') {
        await ctx.audit.record({ actor: address, action: 'console.login', outcome: 'refused', details: { via: 'console', remote: req.ip, reason: 'not-a-person' } });
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
      await ctx.audit.record({ actor: address, action: 'auth.certificate', outcome: 'refused', details: { via: 'console', remote: req.ip, reason } });
      return html(reply, loginPage(req, reply, 'Ce certificat ne permet pas de se connecter.'), 401);
    };
    const chain = presentedChainPem(req.raw.socket as TLSSocket);
    if (!chain) return refuse('no-certificate');
    const v = await d.trust.validate(chain, 'tls-client');
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
    reply.clearCookie(d.sessionCookie, { path: '/', httpOnly: true, secure: true, sameSite: 'strict' });
    req.consoleSession = undefined;
    return html(reply, messagePage('Déconnexion', 'Vous êtes déconnecté.', undefined, '/connexion'));
  });

  // ---------- search ----------

  const searchPage = (user: PageUser, results?: string, status = 200, reply?: FastifyReply, notice?: string): FastifyReply => html(reply!, layout('Rechercher un patient', `<h2>Rechercher un patient</h2>
<p>Vos patients (ceux dont vous êtes le médecin traitant) dont le nom de famille commence par les lettres saisies. Accents et majuscules sont ignorés.</p>
${notice ? `<p class="notice">${esc(notice)}</p>` : ''}
<form method="post" action="/recherche">${csrfField(user.csrf)}
<label for="nom">Premières lettres du nom de famille</label><input type="text" id="nom" name="nom" required maxlength="64" autocomplete="off">
<button type="submit">Rechercher</button></form>${results ?? ''}`, user), status);

  app.get('/recherche', get, async (req, reply) => searchPage(userOf(req, reply), undefined, 200, reply));

  app.post('/recherche', post, async (req, reply) => {
    const user = userOf(req, reply);
    const letters = field(req.body as Body, 'nom', 64);
    if (!NAME_TEXT.test(letters)) return searchPage(user, undefined, 400, reply, 'Le nom ne peut contenir que des lettres, des espaces, des tirets et des apostrophes.');
    if ([...searchForm(letters)].filter((ch) => /\p{L}/u.test(ch)).length < c.minSearchLetters) {
      return searchPage(user, undefined, 400, reply, `Saisissez au moins ${c.minSearchLetters} lettres du nom de famille.`);
    }
    const found = await searchOwnPatients(await filing(), req.consoleSession!.doctor, letters);
    // What was found (pseudonymous ids), never what was typed.
    await audit(req, 'console.search', 'ok', { results: found.length, patientIds: found.map((p) => p.id) });
    const rows = found.map((p) => `<tr><td><a href="/dossier/${esc(p.id)}">${esc(p.identity.familyName.toUpperCase())}</a></td><td>${esc(p.identity.givenName)}</td><td>${esc(frDate(p.identity.birthDate))}</td><td>${p.status === 'reconcile' ? '<span class="badge warn">À rapprocher</span>' : ''}</td></tr>`).join('');
    const results = found.length
      ? `<h3>${found.length} patient${found.length > 1 ? 's' : ''}</h3><table><thead><tr><th>Nom</th><th>Prénom</th><th>Date de naissance</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
      : '<p class="message">Aucun de vos patients ne correspond.</p>';
    return searchPage(user, results, 200, reply);
  });

  // ---------- the record ----------

  const basisBadge = (basis: string): string => basis === 'treating' ? '<span class="badge ok">Médecin traitant</span>'
    : basis === 'access-code' ? '<span class="badge">Accès par code patient</span>' : '<span class="badge bad">Accès d’urgence — tracé, à justifier</span>';

  const doctorName = async (address: string | null): Promise<string> => {
    if (!address) return 'aucun (pas encore de synthèse)';
    const e = await ctx.directory.lookup(address).catch(() => undefined);
    const name = e && (e.familyName || e.givenName) ? `Dr ${[e.givenName, e.familyName].filter(Boolean).join(' ')} — ` : '';
    return `${name}${address}`;
  };

  // A sender mapped in filing.senders (a lab's software) shows the role it files under.
  const senders = new Map(Object.entries(ctx.config.filing.senders).map(([k, v]) => [k.toLowerCase(), v]));
  const senderRole = (doc: DocumentView): string => roleLabel(senders.get(doc.sender.toLowerCase()) ?? doc.senderRole);

  // Author and transmitter (issue 30): who wrote it, when that is not who sent it.
  const authorNote = (doc: DocumentView): string => {
    const a = doc.author;
    if (a.status === 'verified') return `<br><span class="badge ok">Auteur vérifié : ${esc(a.name ? `${a.name} <${a.address}>` : a.address)}</span> <span class="muted">transmis par ${esc(doc.sender)}</span>`;
    if (a.status === 'unverified') return `<br><span class="badge warn">Transmis par ${esc(doc.sender)}, auteur non vérifié${a.name ? ` (se dit de ${esc(a.name)})` : ''}</span>`;
    return '';
  };

  const signature = (doc: DocumentView): string => doc.verified ? '<span class="badge ok">Signature vérifiée</span>' : '<span class="badge bad">Signature non vérifiée</span>';

  /**
   * The current summary on top of the record (issue 30): its sections (antécédents, allergies,
   * traitement en cours, vaccinations…), its date and author, read from the summary itself with the
   * record server's key, in memory for this response only.
   */
  const summaryOnTop = async (f: FilingService, view: Awaited<ReturnType<FilingService['show']>>): Promise<string> => {
    const current = [...view.tabs.summary].filter((d) => !d.supersededBy).sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0));
    const top = current.find((d) => writerOf(d.author, d.sender) === view.treatingDoctor) ?? current[0];
    if (!top) return '<section class="summary-top" aria-label="Synthèse en cours"><h3>Synthèse en cours</h3><p class="muted">Aucune synthèse dans ce dossier.</p></section>';
    const replaced = view.tabs.summary.filter((d) => d.supersededBy).length;
    const by = writerOf(top.author, top.sender);
    let sections = '';
    if (rmp.available) {
      // A summary that cannot be opened does not hide the rest of the record: the failure is logged
      // (openDocumentOrRefuse) and said here, in place of its sections.
      const opened = await openDocumentOrRefuse(ctx, rmp, await f.document(top.id)).catch((err: unknown) => (err instanceof ConsolePageError ? err : Promise.reject(err)));
      const parsed = !(opened instanceof ConsolePageError) && opened.kind === 'text' ? summarySections(decodeText(opened.content)) : [];
      sections = opened instanceof ConsolePageError
        ? `<p class="message error" role="alert">${esc(opened.title)} : ${esc(opened.text)}</p>`
        : parsed.length
          ? `<dl class="summary-sections">${parsed.map((s) => `<dt>${esc(s.title)}</dt><dd>${s.lines.map((l) => esc(l)).join('<br>') || '<span class="muted">—</span>'}</dd>`).join('')}</dl>`
          : '<p class="muted">Cette synthèse n’a pas de rubriques reconnues : ouvrez-la pour la lire.</p>';
    }
    return `<section class="summary-top" aria-label="Synthèse en cours"><h3>Synthèse en cours</h3>
<p>${esc(frDate(top.date))} — par ${esc(await doctorName(by))}${top.author.status === 'sender' ? '' : top.author.status === 'verified' ? ` (transmise par ${esc(top.sender)})` : ' — transmise, auteur non vérifié'} — <a href="/document/${esc(top.id)}">ouvrir</a>${replaced ? ` — ${replaced} synthèse(s) remplacée(s) : <a href="/dossier/${esc(view.id)}?onglet=summary">historique</a>` : ''}</p>
${sections}</section>`;
  };

  /** The record as a timeline (as in the RMP): each date, the summary and the reports sent with it. */
  const timeline = (view: Awaited<ReturnType<FilingService['show']>>): string => {
    const docs = Object.values(view.tabs).flat();
    const dates = [...new Set(docs.map((d) => d.date))].sort().reverse();
    if (!dates.length) return '<p class="muted">Aucun document.</p>';
    return `<ol class="timeline">${dates.map((date) => {
      const day = docs.filter((d) => d.date === date);
      const messages = [...new Set(day.map((d) => d.messageId))];
      return `<li><h4>${esc(frDate(date))}</h4>${messages.map((m) => {
        const sent = day.filter((d) => d.messageId === m).sort((a, b) => (a.tab === 'summary' ? -1 : b.tab === 'summary' ? 1 : 0));
        return `<ul class="sent-together" aria-label="Envoyés ensemble par ${esc(sent[0]!.sender)}">${sent.map((d) => `<li><a href="/document/${esc(d.id)}">${esc(typeLabel(d.type))}</a>${d.title ? ` — ${esc(d.title)}` : ''} <span class="muted">(${esc(d.sender)})</span>${d.supersededBy ? ' <span class="badge">Remplacée</span>' : ''}${authorNote(d)}</li>`).join('')}</ul>`;
      }).join('')}</li>`;
    }).join('')}</ol>`;
  };

  app.get<{ Params: { id: string }; Querystring: { onglet?: string; vue?: string } }>('/dossier/:id', get, async (req, reply) => {
    const f = await filing();
    const access = await accessTo(f, req.consoleSession!, req.params.id);
    if (!access.ok) throw DENIED('dossier');
    const view = await f.show(access.patientId);
    const tab: Tab = (TABS as readonly string[]).includes(req.query.onglet ?? '') ? req.query.onglet as Tab : 'summary';
    const pendingMessages = new Set((await f.listReconcile(false)).filter((r) => r.patientId === view.id).map((r) => r.messageId));
    await audit(req, 'console.view', 'ok', { what: 'record', patientId: view.id, basis: access.basis, tab });
    const user = userOf(req, reply);
    const chronological = req.query.vue === 'chronologie';
    const tabs = TABS.filter((t) => t !== 'other' || view.tabs.other.length).map((t) =>
      `<li><a href="/dossier/${esc(view.id)}?onglet=${t}"${t === tab && !chronological ? ' aria-current="page"' : ''}>${TAB_LABELS[t]} (${view.tabs[t].length})</a></li>`).join('')
      + `<li><a href="/dossier/${esc(view.id)}?vue=chronologie"${chronological ? ' aria-current="page"' : ''}>Chronologie</a></li>`;
    const byDate = (a: DocumentView, b: DocumentView): number => (a.date === b.date ? 0 : a.date < b.date ? 1 : -1);
    const docs = [...view.tabs[tab]].sort(byDate);
    const current = docs.filter((x) => !x.supersededBy);
    const history = docs.filter((x) => x.supersededBy);
    const row = (x: DocumentView, old: boolean): string => `<tr${old ? ' class="history"' : ''}>
<td><input type="checkbox" name="documents" value="${esc(x.id)}" id="doc-${esc(x.id)}" aria-label="Sélectionner"></td>
<td>${esc(frDate(x.date))}</td><td><a href="/document/${esc(x.id)}">${esc(typeLabel(x.type))}</a>${x.title ? `<br><span class="muted">${esc(x.title)}</span>` : ''}${x.part !== 'body' ? `<br><span class="muted">${esc(x.part)}</span>` : ''}</td>
<td>${esc(x.sender)}${authorNote(x)}${x.writtenAs === 'replacement' ? '<br><span class="badge">Écrite par un remplaçant</span>' : ''}</td><td>${esc(senderRole(x))}</td><td>${signature(x)}${old ? ' <span class="badge">Remplacée</span>' : ''}${pendingMessages.has(x.messageId) || view.status === 'reconcile' ? ' <span class="badge warn">À rapprocher</span>' : ''}</td></tr>`;
    const head = '<thead><tr><th></th><th>Date</th><th>Document</th><th>Expéditeur</th><th>Rôle</th><th>Statut</th></tr></thead>';
    const table = docs.length
      ? `<form method="post" action="/envoyer">${csrfField(user.csrf)}<input type="hidden" name="patient" value="${esc(view.id)}">
<table>${head}<tbody>${current.map((x) => row(x, false)).join('')}</tbody></table>
${history.length ? `<h4>Historique${tab === 'summary' ? ' des synthèses remplacées' : ''}</h4><table>${head}<tbody>${history.map((x) => row(x, true)).join('')}</tbody></table>` : ''}
${rmp.available ? '<button type="submit">M’envoyer la sélection par messagerie sécurisée</button>' : ''}</form>`
      : '<p class="muted">Aucun document dans cet onglet.</p>';
    const id = view.identity;
    const body = `<section class="identity" aria-label="Identité du patient"><h2>${esc(who(id))}</h2>
<p>Né(e) le ${esc(frDate(id.birthDate))}${id.sex ? ` — ${esc(sexLabel(id.sex))}` : ''}${id.ins ? ` — INS ${esc(id.ins.value)}` : ''}</p>
<p>Médecin traitant : ${esc(await doctorName(view.treatingDoctor))}${view.treatingDoctorSetBy === 'operator' ? ' <span class="muted">(désigné par l’opérateur)</span>' : ''}</p>
<p>${basisBadge(access.basis)}${view.status === 'reconcile' ? ' <span class="badge warn">Identité à rapprocher par l’opérateur</span>' : ''}</p></section>
${tab === 'summary' && !chronological ? await summaryOnTop(f, view) : ''}
<ul class="tabs">${tabs}</ul>${chronological ? `<h3>Chronologie</h3>${timeline(view)}` : `<h3>${TAB_LABELS[tab]}</h3>${table}`}`;
    return html(reply, layout(`Dossier ${who(id)}`, body, user));
  });

  // ---------- a document ----------

  const documentFor = async (req: FastifyRequest, id: string): Promise<{ f: FilingService; doc: Awaited<ReturnType<FilingService['document']>>; patientId: string; basis: string }> => {
    const f = await filing();
    if (!DOCUMENT_ID.test(id)) throw DENIED('document');
    const doc = await f.store.getDocument(id);
    if (!doc?.patientId) throw DENIED('document');
    const access = await accessTo(f, req.consoleSession!, doc.patientId);
    if (!access.ok) throw DENIED('document');
    return { f, doc, patientId: access.patientId, basis: access.basis };
  };
  const unavailable = (): ConsolePageError => new ConsolePageError(503, 'Lecture indisponible', 'La lecture en ligne n’est pas configurée sur cette passerelle (clé du serveur de dossiers). Demandez l’envoi par messagerie à l’opérateur.');

  app.get<{ Params: { id: string } }>('/document/:id', get, async (req, reply) => {
    const { f, doc, patientId, basis } = await documentFor(req, req.params.id);
    if (!rmp.available) throw unavailable();
    const opened = await openDocumentOrRefuse(ctx, rmp, doc);
    await audit(req, 'console.view', 'ok', { what: 'document', patientId, documentId: doc.id, basis });
    const user = userOf(req, reply);
    const v = f.documentView(doc);
    const patient = (await f.show(patientId)).identity;
    const src = `/document/${esc(doc.id)}/contenu`;
    let content: string;
    if (opened.kind === 'text') {
      const text = decodeText(opened.content);
      const results = hprimResults(text);
      const table = results.length ? `<h4>Résultats</h4><table><thead><tr><th>Analyse</th><th>Valeur</th><th>Unité</th><th>Normales</th><th>Anomalie</th></tr></thead><tbody>${results.map((r) =>
        `<tr><td>${esc(r.label)}</td><td>${esc(r.value)}</td><td>${esc(r.unit)}</td><td>${esc(r.low)}${r.low || r.high ? ' – ' : ''}${esc(r.high)}</td><td class="flag">${esc(r.flag === 'H' ? 'Haut' : r.flag === 'L' ? 'Bas' : r.flag)}</td></tr>`).join('')}</tbody></table>` : '';
      content = `${table}<h4>Texte</h4><pre class="document">${esc(text)}</pre>`;
    } else if (opened.kind === 'pdf') {
      content = `<iframe class="document" src="${src}" title="Document PDF"></iframe><p><a href="${src}">Ouvrir le PDF</a></p>`;
    } else if (opened.kind === 'image') {
      content = `<img class="document" src="${src}" alt="${esc(v.title ?? typeLabel(v.type))}">`;
    } else {
      content = `<p>Ce type de document (${esc(opened.contentType.split(';')[0])}) ne s’affiche pas dans le navigateur.</p><p><a href="${src}">Télécharger le document</a></p>`;
    }
    const body = `<p><a href="/dossier/${esc(patientId)}?onglet=${v.tab}">← Dossier de ${esc(who(patient))}</a></p>
<h2>${esc(typeLabel(v.type))}${v.title ? ` — ${esc(v.title)}` : ''}</h2>
<p>${esc(frDate(v.date))} — de ${esc(v.sender)} (${esc(senderRole(v))}) — ${signature(v)}${authorNote(v)}</p>
<form method="post" action="/envoyer">${csrfField(user.csrf)}<input type="hidden" name="patient" value="${esc(patientId)}"><input type="hidden" name="documents" value="${esc(doc.id)}">
<button type="submit">M’envoyer ce document par messagerie sécurisée</button></form>
${content}`;
    return html(reply, layout(typeLabel(v.type), body, user));
  });

  app.get<{ Params: { id: string } }>('/document/:id/contenu', get, async (req, reply) => {
    const { doc, patientId, basis } = await documentFor(req, req.params.id);
    if (!rmp.available) throw unavailable();
    const opened = await openDocumentOrRefuse(ctx, rmp, doc);
    await audit(req, 'console.view', 'ok', { what: 'content', patientId, documentId: doc.id, basis });
    const inline = opened.kind !== 'download';
    const type = opened.kind === 'pdf' ? 'application/pdf' : opened.kind === 'image' ? opened.contentType.split(';')[0]!.trim().toLowerCase()
      : opened.kind === 'text' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
    const ascii = opened.filename.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'document';
    return reply
      .type(type)
      .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(opened.filename.slice(0, 100))}`)
      .header('cache-control', 'no-store')
      .header('x-content-type-options', 'nosniff')
      .send(opened.kind === 'text' ? decodeText(opened.content) : opened.content);
  });

  // ---------- send to me ----------

  app.post('/envoyer', post, async (req, reply) => {
    const body = req.body as Body;
    const patient = field(body, 'patient', 40);
    const ids = [...new Set(fields(body, 'documents', 40, 500))];
    const f = await filing();
    const access = await accessTo(f, req.consoleSession!, patient);
    if (!access.ok) throw DENIED('dossier');
    if (!ids.length) throw new ConsolePageError(400, 'Aucun document choisi', 'Cochez au moins un document à vous envoyer.');
    const creds = rmp.credentials();
    if (!creds) throw unavailable();
    for (const id of ids) {
      const doc = DOCUMENT_ID.test(id) ? await f.store.getDocument(id) : undefined;
      if (!doc || doc.patientId !== access.patientId) throw DENIED('document');
    }
    const grant = req.consoleSession!.grants.get(access.patientId);
    let messages = 0;
    try {
      for (const id of ids) {
        const r = await sendRecord(ctx, {
          patientId: access.patientId, doctor: req.consoleSession!.doctor, documentId: id, recordServer: creds, via: 'console',
          ...(access.basis === 'access-code' && grant?.basis === 'access-code' ? { accessCode: grant.accessCode } : {}),
          ...(access.basis === 'emergency' && grant?.basis === 'emergency' ? { emergencyReason: grant.reason } : {}),
        });
        messages += r.messages;
      }
    } catch (err) {
      if (isMedgateError(err) && err.code === 'FILING_REQUEST_REFUSED') {
        throw new ConsolePageError(403, 'Envoi refusé', 'L’envoi a été refusé : votre messagerie sécurisée ne peut pas recevoir ce document, ou votre accès à ce dossier ne le permet pas.');
      }
      if (isMedgateError(err) && err.code === 'FILING_REWRAP_UNSUPPORTED') {
        throw new ConsolePageError(409, 'Envoi impossible', 'Ce document a été chiffré par le logiciel de l’expéditeur : la passerelle ne peut pas le réadresser.');
      }
      throw err;
    }
    const user = userOf(req, reply);
    return html(reply, layout('Envoi effectué', `<h2>Envoi effectué</h2><p class="message">${ids.length} document${ids.length > 1 ? 's' : ''} (${messages} message${messages > 1 ? 's' : ''}) envoyé${ids.length > 1 ? 's' : ''} à votre messagerie sécurisée ${esc(req.consoleSession!.doctor)}. Ils se déchiffrent sur votre poste.</p>
<p><a href="/dossier/${esc(access.patientId)}">Retour au dossier</a></p>`, user));
  });

  // ---------- consent (access code) and emergency access ----------

  const identityFields = (prefix: string): string => `
<label for="${prefix}-nom">Nom de famille</label><input type="text" id="${prefix}-nom" name="nom" required maxlength="64" autocomplete="off">
<label for="${prefix}-prenom">Prénom</label><input type="text" id="${prefix}-prenom" name="prenom" required maxlength="64" autocomplete="off">
<label for="${prefix}-naissance">Date de naissance</label><input type="date" id="${prefix}-naissance" name="naissance" required>`;

  const accessPage = (req: FastifyRequest, reply: FastifyReply, notice?: string, status = 200): FastifyReply => {
    const user = userOf(req, reply);
    return html(reply, layout('Patient d’un autre médecin', `<h2>Patient d’un autre médecin</h2>
${notice ? `<p class="notice">${esc(notice)}</p>` : ''}
<p>Vous n’êtes pas le médecin traitant : saisissez l’identité du patient et son code d’accès confidentiel (le patient vous le communique).</p>
<form method="post" action="/acces/code">${csrfField(user.csrf)}${identityFields('code')}
<label for="code">Code d’accès du patient</label><input type="text" id="code" name="code" required maxlength="32" autocomplete="off">
<button type="submit">Ouvrir le dossier</button></form>
<h3>Accès d’urgence (bris de glace)</h3>
<p>Sans code, en cas d’urgence uniquement. L’accès est tracé, signalé au médecin traitant et doit être justifié.</p>
<form method="post" action="/acces/urgence">${csrfField(user.csrf)}${identityFields('urgence')}
<label for="motif">Motif de l’accès d’urgence</label><textarea id="motif" name="motif" required maxlength="2000"></textarea>
<button type="submit" class="danger">Accéder en urgence</button></form>`, user), status);
  };

  app.get('/acces', get, async (req, reply) => accessPage(req, reply));

  const identityOf = (body: Body): { familyName: string; givenName: string; birthDate: string } => {
    const familyName = field(body, 'nom', 64);
    const givenName = field(body, 'prenom', 64);
    const birthDate = isoDate(field(body, 'naissance', 10));
    if (!NAME_TEXT.test(familyName) || !NAME_TEXT.test(givenName) || !familyName.trim() || !givenName.trim() || !birthDate) {
      throw new ConsolePageError(400, 'Identité incomplète', 'Saisissez le nom, le prénom (lettres, espaces, tirets, apostrophes) et la date de naissance du patient.');
    }
    return { familyName, givenName, birthDate };
  };

  app.post('/acces/code', post, async (req, reply) => {
    const doctor = req.consoleSession!.doctor;
    const body = req.body as Body;
    if (await d.codeFailures.isRefused(doctor)) {
      await audit(req, 'console.consent', 'refused', { reason: 'rate-limited' });
      return html(reply, messagePage('Trop de tentatives', 'Trop de codes d’accès erronés. Réessayez plus tard.', userOf(req, reply), '/acces'), 429);
    }
    const identity = identityOf(body);
    const code = field(body, 'code', 32);
    const f = await filing();
    const patient = await findByIdentity(f, identity);
    if (patient && (await f.treatingDoctor(patient.id)) === doctor) return reply.redirect(`/dossier/${patient.id}`, 303);
    const ok = !!patient && !!code && await f.checkAccessCode(patient.id, code);
    if (!ok) {
      // An unknown patient and a wrong code get the same answer and count alike.
      await d.codeFailures.recordFailure(doctor);
      await audit(req, 'console.consent', 'refused', { reason: 'access-code-wrong', patientId: patient?.id ?? null });
      return accessPage(req, reply, 'Identité ou code d’accès incorrect.', 403);
    }
    req.consoleSession!.grants.set(patient.id, { basis: 'access-code', accessCode: code });
    await audit(req, 'console.consent', 'ok', { basis: 'access-code', patientId: patient.id });
    return reply.redirect(`/dossier/${patient.id}`, 303);
  });

  app.post('/acces/urgence', post, async (req, reply) => {
    const doctor = req.consoleSession!.doctor;
    const body = req.body as Body;
    const identity = identityOf(body);
    const reason = field(body, 'motif', 2000).trim();
    if (reason.length < 5) return accessPage(req, reply, 'Un accès d’urgence exige un motif écrit.', 400);
    const entry = await ctx.directory.lookup(doctor).catch(() => undefined);
    if (!entry || entry.mailboxType !== 'PER' || !(entry.professionCode || entry.professionLabel)) {
      await audit(req, 'console.emergency', 'refused', { reason: 'not-a-health-professional', emergency: true });
      throw new ConsolePageError(403, 'Accès refusé', 'Seul un professionnel de santé inscrit à l’annuaire peut demander un accès d’urgence.');
    }
    const f = await filing();
    const patient = await findByIdentity(f, identity);
    if (!patient) {
      await audit(req, 'console.emergency', 'refused', { reason: 'no-match', emergency: true });
      return accessPage(req, reply, 'Aucun dossier ne correspond exactement à cette identité.', 404);
    }
    const requestId = randomUUID();
    await f.store.insertRequest({ id: requestId, patientId: patient.id, doctor, basis: 'emergency', documentId: null, reasonEnc: f.cipher.encrypt(reason), outcome: 'viewed', at: new Date().toISOString() });
    req.consoleSession!.grants.set(patient.id, { basis: 'emergency', reason });
    await audit(req, 'console.emergency', 'ok', { requestId, patientId: patient.id, basis: 'emergency', emergency: true });
    ctx.logger.warn({ requestId, patientId: patient.id, doctor }, 'emergency access to a record (console)');
    return reply.redirect(`/dossier/${patient.id}`, 303);
  });

  app.get('/urgences', get, async (req, reply) => {
    const doctor = req.consoleSession!.doctor;
    const f = await filing();
    const operator = c.operators.map((a) => a.toLowerCase()).includes(doctor);
    const treating = new Map<string, string | null>();
    const rows: string[] = [];
    for (const r of (await f.store.listRequests('emergency')).reverse()) {
      if (!treating.has(r.patientId)) treating.set(r.patientId, await f.treatingDoctor(r.patientId));
      if (!operator && treating.get(r.patientId) !== doctor) continue;
      const p = await f.patientRow(r.patientId).catch(() => undefined);
      const identity = p ? f.cipher.decryptJson<FiledIdentity>(p.identityEnc) : undefined;
      rows.push(`<tr><td>${esc(frDateTime(r.at))}</td><td>${esc(r.doctor)}</td><td>${identity ? `<a href="/dossier/${esc(r.patientId)}">${esc(who(identity))}</a> (${esc(frDate(identity.birthDate))})` : esc(r.patientId)}</td>
<td>${esc(r.reasonEnc ? f.cipher.decrypt(r.reasonEnc) : '')}</td><td>${r.outcome === 'viewed' ? 'Consulté en ligne' : r.outcome === 'sent' ? 'Envoyé par messagerie' : 'Refusé'}</td></tr>`);
    }
    await audit(req, 'console.emergencies', 'ok', { results: rows.length, operator });
    const user = userOf(req, reply);
    return html(reply, layout('Accès d’urgence', `<h2>Accès d’urgence à justifier</h2>
<p>${operator ? 'Tous les accès d’urgence (opérateur).' : 'Les accès d’urgence aux dossiers de vos patients.'} La commande <code>medgate patients emergencies</code> montre la même liste.</p>
${rows.length ? `<table><thead><tr><th>Date</th><th>Médecin</th><th>Patient</th><th>Motif</th><th>Accès</th></tr></thead><tbody>${rows.join('')}</tbody></table>` : '<p class="muted">Aucun accès d’urgence.</p>'}`, user));
  });
}
