/** Shared test fixtures for the medgate/1 seal/open suites: keys generated at test time, sample messages. */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as openpgp from 'openpgp';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { ResolveSigner, ResolvedSigner, RoutingInput } from '../../src/crypto/seal/index.js';

export const SAMPLES = '/work/shared/samples';

export interface TestUser {
  email: string;
  privateKey: openpgp.PrivateKey;
  publicKey: openpgp.PublicKey;
  armoredPrivate: string;
  armoredPublic: string;
}

/** v4 Curve25519 keys (ed25519Legacy + cv25519): what GnuPG 2.2 reads. */
export async function makeUser(email: string): Promise<TestUser> {
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ email }],
    format: 'object',
  });
  return { email, privateKey, publicKey, armoredPrivate: privateKey.armor(), armoredPublic: publicKey.armor() };
}

/** A directory stand-in: address → key and status. */
export function directory(
  entries: Array<{ user: TestUser; status?: ResolvedSigner['status']; key?: openpgp.PublicKey }>,
): ResolveSigner & { calls: Array<{ address?: string; keyIds: string[] }> } {
  const calls: Array<{ address?: string; keyIds: string[] }> = [];
  const fn = async (ref: { address?: string; keyIds: string[] }) => {
    calls.push(ref);
    // By address when the message names one, else by issuer key id (as a directory keyed by key would).
    const hit = entries.find((e) =>
      ref.address !== undefined ? e.user.email === ref.address : e.user.publicKey.getKeys().some((k) => ref.keyIds.includes(k.getKeyID().toHex())),
    );
    if (!hit) return undefined;
    return { publicKey: hit.key ?? hit.user.publicKey, status: hit.status ?? 'active', identity: { rpps: '10001234567' } };
  };
  return Object.assign(fn, { calls });
}

export const PATIENT_HEADERS = [
  'X-Medgate-Patient-Family-Name: DUPONT',
  'X-Medgate-Patient-Given-Name: Jean',
  'X-Medgate-Patient-Birth-Date: 30/01/1959',
  'X-Medgate-Patient-NIR: 159018002121980',
];

/** The Outlook sample with the patient header fields a practice software adds, CRLF line ends. */
export function outlookSample(): Buffer {
  const text = readFileSync(`${SAMPLES}/subject-tag-outlook.eml`, 'utf8').replace(/\r?\n/g, '\r\n');
  const [head, ...rest] = text.split('\r\n\r\n');
  return Buffer.from(`${head}\r\n${PATIENT_HEADERS.join('\r\n')}\r\n\r\n${rest.join('\r\n\r\n')}`, 'utf8');
}

export const HPRIM_SUBJECT = 'Résultats biologie DUPONT Jean né le 30/01/1959';

/** HPRIM result as a message, body written as given (utf8 or latin1 text), 8bit. */
export function hprimInBody(charset: 'utf-8' | 'iso-8859-1'): Buffer {
  const file = charset === 'utf-8' ? 'hprim-biologie.txt' : 'hprim-biologie.latin1.txt';
  const body = readFileSync(`${SAMPLES}/${file}`);
  const head = [
    'From: labo@bio-antony.medgate.test',
    'To: paul.demo@cabinet-antony.medgate.test',
    `Subject: =?utf-8?Q?${encodeQ(HPRIM_SUBJECT)}?=`,
    'Date: Mon, 23 Nov 2026 10:02:00 +0100',
    'Message-ID: <hprim-0001@bio-antony.medgate.test>',
    'MIME-Version: 1.0',
    `Content-Type: text/plain; charset=${charset}`,
    'Content-Transfer-Encoding: 8bit',
    ...PATIENT_HEADERS,
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'utf8'), body]);
}

function encodeQ(s: string): string {
  return [...Buffer.from(s, 'utf8')]
    .map((b) => (b === 0x20 ? '_' : b > 0x7e || b < 0x21 || b === 0x3d || b === 0x3f || b === 0x5f ? `=${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b)))
    .join('');
}

/** HPRIM result (both encodings) as attachments of a message built by nodemailer. */
export async function hprimAsAttachment(): Promise<Buffer> {
  const composer = new MailComposer({
    from: 'labo@bio-antony.medgate.test',
    to: 'paul.demo@cabinet-antony.medgate.test',
    subject: HPRIM_SUBJECT,
    date: new Date('2026-11-23T09:02:00Z'),
    messageId: '<hprim-0002@bio-antony.medgate.test>',
    text: 'Veuillez trouver ci-joint le compte rendu de M. DUPONT Jean (30/01/1959).',
    headers: Object.fromEntries(PATIENT_HEADERS.map((l) => l.split(': ') as [string, string])),
    attachments: [
      { filename: 'DUPONT_Jean.hpr', content: readFileSync(`${SAMPLES}/hprim-biologie.txt`), contentType: 'text/plain; charset=utf-8' },
      { filename: 'resultat.latin1.hpr', content: readFileSync(`${SAMPLES}/hprim-biologie.latin1.txt`), contentType: 'application/octet-stream' },
    ],
  });
  return composer.compile().build();
}

export function routingFor(from: string, recipients: string[], messageId: string): RoutingInput {
  return {
    messageId,
    patient: { familyName: 'DUPONT', givenName: 'Jean', birthDate: '1959-01-30', sex: 'M', ins: { value: '159018002121980', oid: '1.2.250.1.213.1.4.10' } },
    document: { type: '11502-2', date: '2026-11-23', title: 'Compte rendu de biologie' },
    sender: { address: from, nationalId: '810001234567', professionCode: '10', professionLabel: 'Médecin', specialtyCode: 'SM54', role: 'treating' },
    recipients,
  };
}

/** A message with a large base64 attachment, the shape of a scanned report or an imaging study. */
export function largeMessage(attachmentBytes: number): Buffer {
  const head = outlookSample().toString('latin1');
  const cut = head.indexOf('\r\n\r\n');
  const headers = head.slice(0, cut).split('\r\n').filter((l) => !/^(content-type|content-transfer-encoding|mime-version):/i.test(l) && !/^\s/.test(l));
  const pdf = randomBytes(attachmentBytes).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from([
    ...headers, 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="big"', '',
    '--big', 'Content-Type: text/plain; charset=utf-8', '', 'Compte rendu joint.',
    '--big', 'Content-Type: application/pdf; name="cr.pdf"', 'Content-Transfer-Encoding: base64', '', pdf, '--big--', '',
  ].join('\r\n'), 'latin1');
}
