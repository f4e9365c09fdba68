/** The record of a patient: identity, the current summary on top, the documents by tab or as a timeline. */
import type { FastifyInstance } from 'fastify';
import { TABS, writerOf, type DocumentView, type FilingService, type Tab } from '../../filing/index.js';
import { csrfField, esc, frDate, layout, TAB_LABELS, typeLabel } from '../html.js';
import { summarySections } from '../../message/classify/index.js';
import { ConsolePageError } from '../errors.js';
import { accessTo, decodeText, openDocumentOrRefuse } from '../records.js';
import { DENIED, sexLabel, who, type PageKit } from './page-kit.js';
import { authorNote, senderRoleOf, signature } from './document-labels.js';

export function registerRecordPages(app: FastifyInstance, k: PageKit): void {
  const { ctx, rmp, html, userOf, audit, filing, get } = k;

  const basisBadge = (basis: string): string => basis === 'treating' ? '<span class="badge ok">Médecin traitant</span>'
    : basis === 'access-code' ? '<span class="badge">Accès par code patient</span>' : '<span class="badge bad">Accès d’urgence — tracé, à justifier</span>';

  const doctorName = async (address: string | null): Promise<string> => {
    if (!address) return 'aucun (pas encore de synthèse)';
    const e = await ctx.directory.lookup(address).catch(() => undefined);
    const name = e && (e.familyName || e.givenName) ? `Dr ${[e.givenName, e.familyName].filter(Boolean).join(' ')} — ` : '';
    return `${name}${address}`;
  };

  const senderRole = senderRoleOf(ctx);

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
      const opened = await openDocumentOrRefuse(ctx, f, rmp, await f.document(top.id)).catch((err: unknown) => (err instanceof ConsolePageError ? err : Promise.reject(err)));
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
}
