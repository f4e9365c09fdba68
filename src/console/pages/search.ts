/** Search among one's own patients by the first letters of the family name. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { searchForm } from '../../filing/index.js';
import { csrfField, esc, frDate, layout, type PageUser } from '../html.js';
import { searchOwnPatients } from '../records.js';
import { field, NAME_TEXT, type Body, type PageKit } from './page-kit.js';

export function registerSearchPages(app: FastifyInstance, k: PageKit): void {
  const { c, html, userOf, audit, filing, get, post } = k;

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
}
