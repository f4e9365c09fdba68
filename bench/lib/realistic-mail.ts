/**
 * A realistic, entirely synthetic mailbox for the IMAP benches: doctors' letters in French as
 * Outlook and Thunderbird write them (text/plain + verbose text/html alternatives, accented text
 * in quoted-printable, RFC 2047 subjects and names), with the attachments practices send: PDF
 * reports, JPEG photos and scans, PNG screenshots, an inline PNG logo in a multipart/related
 * signature. Sizes 5–400 KB. Everything comes from the seed: the same seed gives the same bytes.
 * No real person, patient or data: the names are placeholders and the pictures noise.
 *
 * Messages are built with nodemailer's MailComposer (the MIME library of the project), with fixed
 * boundaries, dates and Message-IDs so that nothing depends on the clock or on crypto.randomBytes.
 */
import fs from 'node:fs';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { makeJpeg, makePdf, makePng, SeededRandom } from './realistic-files.js';

export interface RealisticOptions {
  seed: string;
  /** How many messages (60 by default: about 6 MB). */
  messages?: number;
  minBytes?: number;
  maxBytes?: number;
}

export interface RealisticMessage {
  /** The message with LF line ends, as an mbox holds it (imaptest turns LF into CRLF). */
  bytes: Buffer;
  kind: string;
  /** The size aimed at (the message comes within a few KB of it). */
  target: number;
  attachments: Array<{ contentType: string; filename: string; size: number }>;
}

const DOCTORS = [
  ['Dr Camille Exemple', 'c.exemple@cabinet-antony.medgate.test'],
  ['Dr Hélène Fictif', 'h.fictif@clinique-essai.medgate.test'],
  ['Dr François Témoin', 'f.temoin@chu-demo.medgate.test'],
  ['Dr Zoé Maquette', 'z.maquette@centre-radiologie.medgate.test'],
  ['Dr Jérôme Brouillon', 'j.brouillon@labo-essai.medgate.test'],
  ['Dr Agnès Prototype', 'a.prototype@cabinet-antony.medgate.test'],
] as const;

const PATIENTS = ['Mme Josiane Témoin', 'M. Gérard Essai', 'Mme Cécile Fictive', 'M. Noël Exemplaire', 'Mme Inès Démo', 'M. Loïc Modèle'];

const SUBJECTS = [
  'Compte rendu d’échographie abdominale — %P',
  'Résultats biologiques de %P',
  'Courrier de sortie : %P',
  'Demande d’avis spécialisé pour %P',
  'Photos de la plaie (évolution à J+%N) — %P',
  'Ordonnance et bilan préopératoire — %P',
  'Scanner thoracique : conclusions pour %P',
  'Suivi post-opératoire, %P',
];

const SENTENCES = [
  'Je vous remercie de m’avoir adressé %P, âgé(e) de %N ans, que j’ai reçu(e) en consultation ce jour.',
  'L’examen clinique retrouve un abdomen souple, dépressible et indolore à la palpation.',
  'Les antécédents comprennent une hypertension artérielle traitée et une cholécystectomie en 2014.',
  'L’échographie montre un foie de taille normale, d’échostructure homogène, sans lésion focale décelable.',
  'Le bilan biologique est rassurant : hémoglobine à 13,2 g/dl, plaquettes et ionogramme normaux.',
  'Je propose de poursuivre le traitement actuel et de réévaluer la situation dans trois mois.',
  'La cicatrisation est en bonne voie ; je joins les photographies prises lors de la dernière visite.',
  'Pourriez-vous me donner votre avis sur l’opportunité d’une fibroscopie œso-gastro-duodénale ?',
  'Le patient signale des épisodes de vertiges brefs, sans perte de connaissance ni céphalée associée.',
  'Vous trouverez ci-joint le compte rendu détaillé ainsi que les clichés de l’examen.',
  'La créatininémie est stable à 92 µmol/l, soit un débit de filtration estimé à 71 ml/min.',
  'Un contrôle radiologique à six semaines me paraît souhaitable avant la reprise du sport.',
  'Je reste à votre disposition pour tout renseignement complémentaire.',
  'L’électrocardiogramme est en rythme sinusal régulier, sans trouble de la repolarisation.',
  'Pas d’allergie médicamenteuse connue ; la vaccination antitétanique est à jour.',
  'Nous avons convenu d’un arrêt du tabac, avec l’aide de substituts nicotiniques.',
  'Après discussion en réunion pluridisciplinaire, une surveillance simple a été décidée.',
  'La douleur est cotée à 3/10 à l’effort, elle cède au repos et sous paracétamol.',
  'Je vous prie de croire, cher confrère, chère consœur, à l’assurance de mes sentiments dévoués.',
  'Le dossier complet a été transmis au secrétariat du service d’hépato-gastro-entérologie.',
];

const GREETINGS = ['Cher confrère,', 'Chère consœur,', 'Bonjour,', 'Chère Camille,', 'Cher ami,'];

const CLIENTS = [
  { mailer: 'Microsoft Outlook 16.0', html: 'outlook' },
  { mailer: 'Mozilla Thunderbird 128.5.0', html: 'thunderbird' },
  { mailer: 'Apple Mail (2.3774)', html: 'thunderbird' },
] as const;

function fill(s: string, rng: SeededRandom, patient: string): string {
  return s.replace(/%P/g, patient).replace(/%N/g, () => String(rng.int(8, 92)));
}

function paragraphs(rng: SeededRandom, patient: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = rng.int(2, 5);
    const p: string[] = [];
    for (let j = 0; j < k; j++) p.push(fill(rng.pick(SENTENCES), rng, patient));
    out.push(p.join(' '));
  }
  return out;
}

/** Lines of at most 72 characters, as a mail client wraps plain text. */
function wrap(p: string): string {
  const words = p.split(' ');
  const lines: string[] = [];
  let cur = '';
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > 72) { lines.push(cur); cur = w; } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  return lines.join('\n');
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function html(style: 'outlook' | 'thunderbird', greeting: string, paras: string[], signature: string[], logoCid?: string): string {
  if (style === 'outlook') {
    const p = (t: string): string => `<p class="MsoNormal"><span style="font-size:11.0pt;font-family:&quot;Calibri&quot;,sans-serif;mso-fareast-language:FR">${escapeHtml(t)}<o:p></o:p></span></p>`;
    return [
      '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">',
      '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"><meta name="Generator" content="Microsoft Word 15 (filtered medium)">',
      '<style><!-- /* Font Definitions */ @font-face {font-family:"Cambria Math"; panose-1:2 4 5 3 5 4 6 3 2 4;} @font-face {font-family:Calibri; panose-1:2 15 5 2 2 2 4 3 2 4;} p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif; mso-fareast-language:EN-US;} a:link, span.MsoHyperlink {mso-style-priority:99; color:#0563C1; text-decoration:underline;} span.EmailStyle17 {mso-style-type:personal-compose; font-family:"Calibri",sans-serif; color:windowtext;} .MsoChpDefault {mso-style-type:export-only; font-family:"Calibri",sans-serif;} @page WordSection1 {size:612.0pt 792.0pt; margin:70.85pt 70.85pt 70.85pt 70.85pt;} div.WordSection1 {page:WordSection1;} --></style>',
      '<!--[if gte mso 9]><xml><o:shapedefaults v:ext="edit" spidmax="1026" /></xml><![endif]--></head>',
      '<body lang="FR" link="#0563C1" vlink="#954F72" style="word-wrap:break-word"><div class="WordSection1">',
      p(greeting), '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>',
      ...paras.flatMap((t) => [p(t), '<p class="MsoNormal"><o:p>&nbsp;</o:p></p>']),
      ...signature.map(p),
      ...(logoCid ? [`<p class="MsoNormal"><img width="180" height="60" style="width:1.875in;height:.625in" id="Image_x0020_1" src="cid:${logoCid}" alt="Logo du cabinet"><o:p></o:p></p>`] : []),
      '</div></body></html>',
    ].join('\n');
  }
  return [
    '<!DOCTYPE html>',
    '<html>',
    '  <head>',
    '    <meta http-equiv="content-type" content="text/html; charset=UTF-8">',
    '  </head>',
    '  <body>',
    `    <p>${escapeHtml(greeting)}</p>`,
    ...paras.map((t) => `    <p>${escapeHtml(t)}</p>`),
    '    <div class="moz-signature">-- <br>',
    ...signature.map((t) => `      ${escapeHtml(t)}<br>`),
    ...(logoCid ? [`      <img src="cid:${logoCid}" alt="Logo du cabinet" width="180" height="60">`] : []),
    '    </div>',
    '  </body>',
    '</html>',
  ].join('\n');
}

const KINDS = [
  { kind: 'letter', weight: 25 },
  { kind: 'pdf-report', weight: 30 },
  { kind: 'photos', weight: 15 },
  { kind: 'scan', weight: 15 },
  { kind: 'reply-logo', weight: 15 },
] as const;

function pickKind(rng: SeededRandom): (typeof KINDS)[number]['kind'] {
  let r = rng.next() * KINDS.reduce((n, k) => n + k.weight, 0);
  for (const k of KINDS) { if ((r -= k.weight) < 0) return k.kind; }
  return 'letter';
}

/** MailComposer reads these too (nodemailer's MimeNode), though its typings do not list them. */
type ComposerOptions = Mail.Options & { baseBoundary: string; boundaryPrefix: string; newline: string };

function build(mail: ComposerOptions): Promise<Buffer> {
  return new MailComposer(mail).compile().build();
}

/** Raw bytes that base64 (76-column lines, LF) turns into about `encoded` bytes. */
function rawFor(encoded: number): number {
  return Math.max(512, Math.floor((encoded * 3 * 76) / (4 * 77)));
}

async function oneMessage(rng: SeededRandom, seed: string, i: number, minBytes: number, maxBytes: number): Promise<RealisticMessage> {
  const kind = pickKind(rng);
  // Letters alone are small (5–20 KB); with attachments, log-uniform between 40 KB and the maximum
  // (60 messages come to 5–8 MB depending on the seed; the issue measured a mailbox of 60 messages, 7 MB).
  const target = kind === 'letter'
    ? rng.int(minBytes + 512, Math.min(maxBytes, 20 * 1024))
    : Math.round(Math.exp(Math.log(40 * 1024) + rng.next() * (Math.log(maxBytes - 8 * 1024) - Math.log(40 * 1024))));
  const [fromName, fromAddr] = rng.pick(DOCTORS);
  let [toName, toAddr] = rng.pick(DOCTORS);
  if (toAddr === fromAddr) [toName, toAddr] = DOCTORS[(DOCTORS.findIndex((d) => d[1] === fromAddr) + 1) % DOCTORS.length]!;
  const patient = rng.pick(PATIENTS);
  const client = rng.pick(CLIENTS);
  const greeting = rng.pick(GREETINGS);
  const signature = [fromName, 'Médecin généraliste — cabinet fictif de démonstration', '1 rue de l’Exemple, 92160 Antony', 'Tél. 01 00 00 00 00'];
  const date = new Date(Date.UTC(2026, 10, 2, 8, 0, 0) + i * 3_600_000 * 5 + rng.int(0, 3_599) * 1000);
  const reply = kind === 'reply-logo';
  const subject = `${reply ? 'RE: ' : ''}${fill(rng.pick(SUBJECTS), rng, patient)}`;
  const messageId = `<bench-${seed}-${i}.${date.getTime().toString(36)}@${fromAddr.split('@')[1]}>`;

  const attachments: NonNullable<Mail.Options['attachments']> = [];
  const described: RealisticMessage['attachments'] = [];
  const logoCid = reply ? `image001.png@01DB${i.toString(16).toUpperCase().padStart(4, '0')}` : undefined;
  const compose = (paras: string[], atts: NonNullable<Mail.Options['attachments']>): ComposerOptions => ({
    from: { name: fromName, address: fromAddr },
    to: [{ name: toName, address: toAddr }],
    ...(rng.next() < 0.3 ? { cc: [{ name: 'Secrétariat médical', address: 'secretariat@cabinet-antony.medgate.test' }] } : {}),
    subject,
    date,
    messageId,
    ...(reply ? { inReplyTo: `<bench-${seed}-${i - 1}@demo.medgate.test>`, references: [`<bench-${seed}-${i - 1}@demo.medgate.test>`] } : {}),
    headers: { 'X-Mailer': client.mailer, 'Content-Language': 'fr-FR' },
    text: `${greeting}\n\n${paras.map(wrap).join('\n\n')}\n\n-- \n${signature.join('\n')}\n${reply ? `\n> ${wrap(fill(rng.pick(SENTENCES), rng, patient)).replace(/\n/g, '\n> ')}\n` : ''}`,
    html: html(client.html, greeting, paras, signature, logoCid),
    attachments: atts,
    baseBoundary: `bench${seed}x${i}`,
    boundaryPrefix: client.html === 'outlook' ? '_000_' : '------------',
    newline: 'unix',
  });

  if (logoCid) {
    const logo = makePng(rng, rng.int(3_000, 9_000));
    attachments.push({ filename: 'image001.png', content: logo, contentType: 'image/png', cid: logoCid });
    described.push({ contentType: 'image/png', filename: 'image001.png', size: logo.length });
  }
  // The letter alone, to learn its size and what one paragraph weighs.
  let nParas = rng.int(2, 5);
  const paras = paragraphs(rng, patient, 12);
  const base = (await build(compose(paras.slice(0, nParas), attachments))).length;
  if (kind === 'letter' || base >= target - 4096) {
    const per = Math.max(1, (base - (await build(compose(paras.slice(0, 1), attachments))).length) / Math.max(1, nParas - 1));
    nParas = Math.max(1, Math.min(200, nParas + Math.floor((target - base) / per)));
    const more = nParas > paras.length ? paragraphs(rng, patient, nParas - paras.length) : [];
    const bytes = await build(compose([...paras, ...more].slice(0, nParas), attachments));
    return { bytes, kind, target, attachments: described };
  }
  // The rest of the size goes to the attachments of this kind, shared out at random.
  const count = kind === 'photos' ? rng.int(1, 3) : kind === 'scan' ? 2 : 1;
  const budget = target - base - count * 260;
  const shares = Array.from({ length: count }, () => 0.5 + rng.next());
  const total = shares.reduce((a, b) => a + b, 0);
  for (let k = 0; k < count; k++) {
    const raw = rawFor((budget * shares[k]!) / total);
    let file: { content: Buffer; contentType: string; filename: string };
    if (kind === 'pdf-report' || (kind === 'scan' && k === 0)) {
      const title = kind === 'scan' ? `Document numérisé — ${patient}` : `Compte rendu — ${patient}`;
      file = { content: makePdf(rng, raw, title, paragraphs(rng, patient, 8).flatMap((p) => wrap(p).split('\n'))), contentType: 'application/pdf', filename: kind === 'scan' ? `Scan_${date.toISOString().slice(0, 10)}.pdf` : `CR_echographie_${i}.pdf` };
    } else if (kind === 'scan') {
      file = { content: makePng(rng, raw), contentType: 'image/png', filename: `Capture d’écran ${i}.png` };
    } else {
      file = { content: makeJpeg(rng, raw), contentType: 'image/jpeg', filename: `IMG_${4000 + i * 3 + k}.JPG` };
    }
    attachments.push(file);
    described.push({ contentType: file.contentType, filename: file.filename, size: file.content.length });
  }
  const bytes = await build(compose(paras.slice(0, nParas), attachments));
  return { bytes, kind, target, attachments: described };
}

/** The messages of a seed, in order. */
export async function generateRealisticMessages(o: RealisticOptions): Promise<RealisticMessage[]> {
  const rng = new SeededRandom(o.seed);
  const minBytes = o.minBytes ?? 5 * 1024;
  const maxBytes = o.maxBytes ?? 400 * 1024;
  const out: RealisticMessage[] = [];
  for (let i = 0; i < (o.messages ?? 60); i++) out.push(await oneMessage(rng, o.seed, i, minBytes, maxBytes));
  return out;
}

/** asctime() as mbox "From " lines carry it: "Mon Nov  2 09:15:00 2026". */
function asctime(d: Date): string {
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'][d.getUTCDay()]!;
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][d.getUTCMonth()]!;
  const t = d.toISOString().slice(11, 19);
  return `${day} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${t} ${d.getUTCFullYear()}`;
}

/**
 * The messages as an mbox (mboxrd quoting of body lines that begin with "From "), the format of
 * imaptest's `mbox=` source: LF line ends, one blank line between messages.
 */
export function toMbox(messages: RealisticMessage[]): Buffer {
  const parts: Buffer[] = [];
  messages.forEach((m, i) => {
    const date = /^Date: (.+)$/m.exec(m.bytes.subarray(0, 4096).toString('latin1'))?.[1];
    const from = /^From: .*<([^>]+)>/m.exec(m.bytes.subarray(0, 4096).toString('latin1'))?.[1] ?? 'bench@demo.medgate.test';
    const when = date ? new Date(date) : new Date(Date.UTC(2026, 10, 2) + i * 3_600_000);
    let text = m.bytes.toString('latin1').replace(/^(>*From )/gm, '>$1');
    if (!text.endsWith('\n')) text += '\n';
    parts.push(Buffer.from(`From ${from}  ${asctime(when)}\n${text}\n`, 'latin1'));
  });
  return Buffer.concat(parts);
}

/** Writes the mbox of a seed to `file`; returns its messages (for a summary). */
export async function writeRealisticMbox(file: string, o: RealisticOptions): Promise<RealisticMessage[]> {
  const messages = await generateRealisticMessages(o);
  fs.writeFileSync(file, toMbox(messages));
  return messages;
}

/** One line: count, total, smallest/median/largest, attachments by type. */
export function describeMailbox(messages: RealisticMessage[]): string {
  const sizes = messages.map((m) => m.bytes.length).sort((a, b) => a - b);
  const kb = (n: number): string => `${(n / 1024).toFixed(0)} KB`;
  const types = new Map<string, number>();
  for (const m of messages) for (const a of m.attachments) types.set(a.contentType, (types.get(a.contentType) ?? 0) + 1);
  const total = sizes.reduce((a, b) => a + b, 0);
  return `${messages.length} messages, ${(total / 1024 / 1024).toFixed(1)} MB, ${kb(sizes[0]!)}–${kb(sizes.at(-1)!)} (median ${kb(sizes[Math.floor(sizes.length / 2)]!)}), attachments: ${[...types].map(([t, n]) => `${n} ${t}`).join(', ') || 'none'}`;
}
