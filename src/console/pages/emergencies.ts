/** The emergency accesses to justify: the treating doctor sees those to their patients, an operator all. */
import type { FastifyInstance } from 'fastify';
import { esc, frDate, frDateTime, layout } from '../html.js';
import { who, type PageKit } from './page-kit.js';

export function registerEmergencyPages(app: FastifyInstance, k: PageKit): void {
  const { c, html, userOf, audit, filing, get } = k;
  app.get('/urgences', get, async (req, reply) => {
    const doctor = req.consoleSession!.doctor;
    const f = await filing();
    const operator = c.operators.map((a) => a.toLowerCase()).includes(doctor);
    const treating = new Map<string, string | null>();
    const rows: string[] = [];
    for (const r of (await f.emergencyAccesses()).reverse()) {
      if (!treating.has(r.patientId)) treating.set(r.patientId, await f.treatingDoctor(r.patientId));
      if (!operator && treating.get(r.patientId) !== doctor) continue;
      const identity = await f.identityOf(r.patientId);
      rows.push(`<tr><td>${esc(frDateTime(r.at))}</td><td>${esc(r.doctor)}</td><td>${identity ? `<a href="/dossier/${esc(r.patientId)}">${esc(who(identity))}</a> (${esc(frDate(identity.birthDate))})` : esc(r.patientId)}</td>
<td>${esc(r.reason ?? '')}</td><td>${r.outcome === 'viewed' ? 'Consulté en ligne' : r.outcome === 'sent' ? 'Envoyé par messagerie' : 'Refusé'}</td></tr>`);
    }
    await audit(req, 'console.emergencies', 'ok', { results: rows.length, operator });
    const user = userOf(req, reply);
    return html(reply, layout('Accès d’urgence', `<h2>Accès d’urgence à justifier</h2>
<p>${operator ? 'Tous les accès d’urgence (opérateur).' : 'Les accès d’urgence aux dossiers de vos patients.'} La commande <code>medgate patients emergencies</code> montre la même liste.</p>
${rows.length ? `<table><thead><tr><th>Date</th><th>Médecin</th><th>Patient</th><th>Motif</th><th>Accès</th></tr></thead><tbody>${rows.join('')}</tbody></table>` : '<p class="muted">Aucun accès d’urgence.</p>'}`, user));
  });
}
