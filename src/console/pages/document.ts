/** One document, shown in the page (text, PDF, image) or as its content alone. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FiledDocument, FilingService } from '../../filing/index.js';
import { csrfField, esc, frDate, layout, typeLabel } from '../html.js';
import { accessTo, decodeText, DOCUMENT_ID, hprimResults, openDocumentOrRefuse, type OpenedDocument } from '../records.js';
import { DENIED, unavailable, who, type PageKit } from './page-kit.js';
import { authorNote, senderRoleOf, signature } from './document-labels.js';

export function registerDocumentPages(app: FastifyInstance, k: PageKit): void {
  const { ctx, rmp, html, userOf, audit, filing, get } = k;

  const documentFor = async (req: FastifyRequest, id: string): Promise<{ f: FilingService; doc: FiledDocument; patientId: string; basis: string }> => {
    const f = await filing();
    if (!DOCUMENT_ID.test(id)) throw DENIED('document');
    const doc = await f.findDocument(id);
    if (!doc?.patientId) throw DENIED('document');
    const access = await accessTo(f, req.consoleSession!, doc.patientId);
    if (!access.ok) throw DENIED('document');
    return { f, doc, patientId: access.patientId, basis: access.basis };
  };
  const senderRole = senderRoleOf(ctx);

  /** The document decrypted for this response, once access is checked; audited as `what` was seen. */
  const openFor = async (req: FastifyRequest, id: string, what: 'document' | 'content'): Promise<Awaited<ReturnType<typeof documentFor>> & { opened: OpenedDocument }> => {
    const found = await documentFor(req, id);
    if (!rmp.available) throw unavailable();
    const opened = await openDocumentOrRefuse(ctx, found.f, rmp, found.doc);
    await audit(req, 'console.view', 'ok', { what, patientId: found.patientId, documentId: found.doc.id, basis: found.basis });
    return { ...found, opened };
  };

  app.get<{ Params: { id: string } }>('/document/:id', get, async (req, reply) => {
    const { f, doc, patientId, opened } = await openFor(req, req.params.id, 'document');
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
    const { opened } = await openFor(req, req.params.id, 'content');
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
}
