/** "Send to me": chosen documents re-addressed to the doctor's own secure mailbox. */
import type { FastifyInstance } from 'fastify';
import { isMedgateError } from '../../errors.js';
import { sendRecord } from '../../filing/record-request.js';
import { ConsolePageError } from '../errors.js';
import { esc, layout } from '../html.js';
import { accessTo, DOCUMENT_ID } from '../records.js';
import { DENIED, field, fields, unavailable, type Body, type PageKit } from './page-kit.js';

export function registerSendPages(app: FastifyInstance, k: PageKit): void {
  const { ctx, rmp, html, userOf, filing, post } = k;

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
      const doc = DOCUMENT_ID.test(id) ? await f.findDocument(id) : undefined;
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
}
