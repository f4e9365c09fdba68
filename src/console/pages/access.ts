/** A patient of another doctor: consent by the patient's access code, or emergency (break-glass) access. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConsolePageError } from '../errors.js';
import { csrfField, esc, layout, messagePage } from '../html.js';
import { findByIdentity } from '../records.js';
import { field, isoDate, NAME_TEXT, type Body, type PageKit } from './page-kit.js';

export function registerAccessPages(app: FastifyInstance, k: PageKit): void {
  const { ctx, codeFailures, html, userOf, audit, filing, get, post } = k;

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
    if (await codeFailures.isRefused(doctor)) {
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
      await codeFailures.recordFailure(doctor);
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
    const requestId = await f.recordEmergencyAccess({ patientId: patient.id, doctor, reason });
    req.consoleSession!.grants.set(patient.id, { basis: 'emergency', reason });
    await audit(req, 'console.emergency', 'ok', { requestId, patientId: patient.id, basis: 'emergency', emergency: true });
    ctx.logger.warn({ requestId, patientId: patient.id, doctor }, 'emergency access to a record (console)');
    return reply.redirect(`/dossier/${patient.id}`, 303);
  });
}
