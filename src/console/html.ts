/**
 * Server-rendered pages of the record console: French labels, no script and no inline style (the
 * Content-Security-Policy forbids both). Every value that comes from data or from the client goes
 * through `esc`; nothing a client typed is ever written back into a page.
 */
import type { Tab } from '../filing/tabs.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text (element content and quoted attribute values). */
export function esc(value: unknown): string {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export const TAB_LABELS: Record<Tab, string> = {
  summary: 'Résumé',
  reports: 'Comptes rendus',
  biology: 'Biologie',
  imaging: 'Imagerie',
  prescriptions: 'Prescriptions',
  letters: 'Courriers',
  other: 'Autres',
};

const TYPE_LABELS: Record<string, string> = {
  summary: 'Synthèse médicale',
  'consultation-report': 'Compte rendu de consultation',
  'hospital-report': "Compte rendu d'hospitalisation",
  'operative-report': 'Compte rendu opératoire',
  'exam-report': "Compte rendu d'examen",
  'pathology-report': "Compte rendu d'anatomie et de cytologie pathologiques",
  biology: 'Résultat de biologie',
  imaging: "Compte rendu d'imagerie",
  prescription: 'Prescription',
  certificate: 'Certificat',
  letter: 'Courrier',
  other: 'Autre document',
};

const ROLE_LABELS: Record<string, string> = {
  'general-practitioner': 'Médecin généraliste',
  specialist: 'Médecin spécialiste',
  doctor: 'Médecin',
  biologist: 'Biologiste',
  radiologist: 'Radiologue',
  pharmacist: 'Pharmacien',
  nurse: 'Infirmier',
  'other-professional': 'Autre professionnel',
  organisation: 'Établissement',
  application: 'Logiciel',
};

export const typeLabel = (t: string): string => TYPE_LABELS[t] ?? 'Autre document';
export const roleLabel = (r: string | null): string => (r ? ROLE_LABELS[r] ?? 'Autre' : 'Non précisé');

/** `AAAA-MM-JJ` → `JJ/MM/AAAA` (anything else as it is, escaped by the caller). */
export function frDate(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso);
  return m ? `${m[3]}/${m[2]}/${m[1]}` : iso;
}

export function frDateTime(iso: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso);
  return m ? `${m[3]}/${m[2]}/${m[1]} ${m[4]}:${m[5]} UTC` : iso;
}

export interface PageUser {
  doctor: string;
  csrf: string;
}

/** The hidden CSRF field every state-changing form carries. */
export const csrfField = (token: string): string => `<input type="hidden" name="_csrf" value="${esc(token)}">`;

export function layout(title: string, body: string, user?: PageUser): string {
  const nav = user
    ? `<nav aria-label="Navigation principale"><a href="/recherche">Rechercher un patient</a> <a href="/acces">Patient d'un autre médecin</a> <a href="/urgences">Accès d'urgence</a>
<span class="who">${esc(user.doctor)}</span>
<form method="post" action="/deconnexion" class="inline">${csrfField(user.csrf)}<button type="submit">Se déconnecter</button></form></nav>`
    : '';
  return `<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${esc(title)} — Dossiers partagés medgate</title>
<link rel="stylesheet" href="/static/console.css">
</head>
<body>
<header><h1><a href="/">Dossiers partagés</a></h1>${nav}</header>
<main>
${body}
</main>
<footer>medgate — console des dossiers partagés. Chaque consultation est tracée.</footer>
</body>
</html>
`;
}

/** A page for a refusal or an error: fixed French text, never the client's input. */
export function messagePage(title: string, text: string, user?: PageUser, back = '/'): string {
  return layout(title, `<h2>${esc(title)}</h2><p class="message">${esc(text)}</p><p><a href="${esc(back)}">Retour</a></p>`, user);
}

export const CSS = `
:root { --fg: #1d2733; --muted: #5b6875; --line: #d5dbe1; --accent: #00537a; --warn: #8a4b00; --bad: #a4001d; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { font-family: system-ui, "Segoe UI", Roboto, Arial, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
header { background: var(--accent); color: #fff; padding: .6rem 1.2rem; display: flex; flex-wrap: wrap; align-items: center; gap: 1rem; }
header h1 { font-size: 1.2rem; margin: 0; }
header a { color: #fff; }
nav { display: flex; flex-wrap: wrap; gap: 1rem; align-items: center; flex: 1; }
nav .who { margin-left: auto; opacity: .9; }
form.inline { display: inline; margin: 0; }
main { max-width: 68rem; margin: 1.2rem auto; background: #fff; padding: 1.2rem 1.6rem; border: 1px solid var(--line); border-radius: 6px; }
footer { text-align: center; color: var(--muted); font-size: .85rem; padding: 1rem; }
label { display: block; margin: .6rem 0 .2rem; font-weight: 600; }
input[type=text], input[type=email], input[type=password], input[type=date], textarea { width: 100%; max-width: 28rem; padding: .45rem; border: 1px solid var(--line); border-radius: 4px; font: inherit; }
textarea { min-height: 5rem; }
button { margin-top: .8rem; padding: .45rem 1rem; border: 0; border-radius: 4px; background: var(--accent); color: #fff; font: inherit; cursor: pointer; }
nav button { margin: 0; background: #fff; color: var(--accent); }
button.danger { background: var(--bad); }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; }
th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg); }
.identity { border-left: 4px solid var(--accent); padding: .4rem .8rem; background: var(--bg); }
.identity h2 { margin: 0 0 .3rem; }
.tabs { display: flex; flex-wrap: wrap; gap: .3rem; list-style: none; padding: 0; margin: 1rem 0 0; border-bottom: 2px solid var(--accent); }
.tabs a { display: block; padding: .4rem .8rem; border: 1px solid var(--line); border-bottom: 0; border-radius: 4px 4px 0 0; text-decoration: none; color: var(--accent); }
.tabs a[aria-current=page] { background: var(--accent); color: #fff; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: .85rem; background: var(--bg); border: 1px solid var(--line); }
.badge.ok { color: #0a6b2d; border-color: #0a6b2d; }
.badge.bad { color: var(--bad); border-color: var(--bad); }
.badge.warn { color: var(--warn); border-color: var(--warn); }
.history td { color: var(--muted); }
.message { font-size: 1.05rem; }
.notice { padding: .5rem .8rem; border-left: 4px solid var(--warn); background: #fff6e5; }
pre.document { white-space: pre-wrap; background: var(--bg); border: 1px solid var(--line); padding: .8rem; font-size: .9rem; }
iframe.document { width: 100%; height: 70vh; border: 1px solid var(--line); }
img.document { max-width: 100%; border: 1px solid var(--line); }
td.flag { font-weight: 700; color: var(--bad); }
.muted { color: var(--muted); }
`;
