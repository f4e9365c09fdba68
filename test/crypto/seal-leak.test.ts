/**
 * Nothing identifying the patient, nor the original Subject, may appear in a sealed message's
 * bytes — in any of the encodings mail uses (plain, case changes, quoted-printable, base64 at the
 * three byte alignments, RFC 2047 encoded words), in UTF-8 or ISO-8859-1.
 */
import * as openpgp from 'openpgp';
import { beforeAll, describe, expect, it } from 'vitest';
import { seal } from '../../src/crypto/seal/index.js';
import { HPRIM_SUBJECT, hprimAsAttachment, hprimInBody, makeUser, outlookSample, routingFor, type TestUser } from './fixtures.js';

const NEEDLES = [
  'DUPONT',
  'Jean',
  '30/01/1959',
  '1959-01-30',
  '19590130',
  '30011959',
  '159018002121980',
  '1590180021219',
  'PATIENT: DUPONT Jean 30/01/1959 - demande d\'avis cardiologique',
  "demande d'avis cardiologique",
  HPRIM_SUBJECT,
  'Résultats biologie',
];

function qp(bytes: Buffer): string {
  return [...bytes].map((b) => (b >= 0x21 && b <= 0x7e && b !== 0x3d ? String.fromCharCode(b) : `=${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** The base64 characters that depend only on `bytes`, when they start at byte offset 0, 1 or 2 of a group. */
function base64Cores(bytes: Buffer): string[] {
  return [0, 1, 2].map((pad) => {
    const enc = Buffer.concat([Buffer.alloc(pad), bytes]).toString('base64').replace(/=+$/, '');
    const start = Math.ceil((pad * 8) / 6);
    const end = Math.floor(((pad + bytes.length) * 8) / 6);
    return enc.slice(start, end);
  });
}

interface Form {
  text: string;
  caseInsensitive: boolean;
}

function formsOf(needle: string): Form[] {
  const forms: Form[] = [];
  for (const bytes of [Buffer.from(needle, 'utf8'), Buffer.from(needle, 'latin1')]) {
    forms.push({ text: bytes.toString('latin1'), caseInsensitive: true });
    forms.push({ text: qp(bytes), caseInsensitive: true });
    forms.push({ text: qp(bytes).replace(/=20/g, '_'), caseInsensitive: true }); // RFC 2047 Q
    for (const core of base64Cores(bytes)) forms.push({ text: core, caseInsensitive: false }); // also RFC 2047 B
  }
  return forms;
}

function occurs(haystack: string, form: Form): boolean {
  return form.caseInsensitive ? haystack.toLowerCase().includes(form.text.toLowerCase()) : haystack.includes(form.text);
}

/**
 * Splits the sealed message into its clear text and its two ciphertext blobs (armored payload,
 * routing header). Clear text is searched for every form; ciphertext (random-looking base64) only
 * for forms of 8+ characters, so a 4-letter name cannot match by chance, and it must also parse as
 * OpenPGP with nothing but encrypted packets at top level.
 */
function regions(sealed: Buffer): { clear: string; armored: string; routing: string } {
  const text = sealed.toString('latin1');
  const armorStart = text.indexOf('-----BEGIN PGP MESSAGE-----');
  const armorEnd = text.indexOf('-----END PGP MESSAGE-----') + '-----END PGP MESSAGE-----'.length;
  const routingMatch = /X-Medgate-Routing:\r\n((?: [^\r\n]*\r\n)+)/.exec(text);
  if (armorStart < 0 || !routingMatch) throw new Error('unexpected sealed layout');
  const armored = text.slice(armorStart, armorEnd);
  const routing = routingMatch[1]!.replace(/\s+/g, '');
  const clear = text.replace(armored, '').replace(routingMatch[1]!, '');
  return { clear, armored, routing };
}

async function onlyEncryptedPackets(message: openpgp.Message<Uint8Array>): Promise<void> {
  const tags = [...message.packets].map((p) => (p.constructor as unknown as { tag: number }).tag);
  expect(tags.length).toBeGreaterThan(1);
  // 1 = PKESK, 18 = SEIPD: no literal (11), compressed (8) or signature (2) packet in clear.
  for (const tag of tags) expect([1, 18]).toContain(tag);
}

let sender: TestUser, recipient: TestUser, filing: TestUser;
beforeAll(async () => {
  [sender, recipient, filing] = await Promise.all([
    makeUser('paul.demo@cabinet-antony.medgate.test'),
    makeUser('claire.martin@cardio-sceaux.medgate.test'),
    makeUser('filing@rmp.medgate.test'),
  ]);
});

describe('no patient data outside the encryption', () => {
  const cases: Array<[string, () => Buffer | Promise<Buffer>]> = [
    ['Outlook sample with subject tag and patient fields', outlookSample],
    ['HPRIM result in a UTF-8 body', () => hprimInBody('utf-8')],
    ['HPRIM result in an ISO-8859-1 body', () => hprimInBody('iso-8859-1')],
    ['HPRIM result as attachments', hprimAsAttachment],
  ];
  for (const [name, build] of cases) {
    it(name, async () => {
      const raw = await build();
      // The test is only meaningful if the needles are in the input, in some form.
      expect(NEEDLES.some((n) => formsOf(n).some((f) => occurs(raw.toString('latin1'), f)))).toBe(true);
      const { sealed } = await seal({
        raw,
        routing: routingFor(sender.email, [recipient.email], '<x@cabinet-antony.medgate.test>'),
        signingKey: sender.privateKey,
        recipientKeys: [recipient.publicKey, sender.publicKey],
        filingKeys: [filing.publicKey],
        envelope: { from: sender.email, to: [recipient.email] },
      });
      expect(findLeaks(sealed)).toEqual([]);
      const { armored, routing } = regions(sealed);
      await onlyEncryptedPackets(await openpgp.readMessage({ armoredMessage: armored }));
      await onlyEncryptedPackets(await openpgp.readMessage({ binaryMessage: Buffer.from(routing, 'base64') }));
    });
  }

  it('the detector does find a leak (an outer Subject naming the patient, RFC 2047 encoded)', async () => {
    const { sealed } = await seal({
      raw: outlookSample(),
      routing: routingFor(sender.email, [recipient.email], '<x@cabinet-antony.medgate.test>'),
      signingKey: sender.privateKey,
      recipientKeys: [recipient.publicKey],
      filingKeys: [],
      envelope: { from: sender.email, to: [recipient.email] },
      outerSubject: 'Résultats biologie — dupont',
    });
    expect(findLeaks(sealed)).toEqual(expect.arrayContaining([expect.stringContaining('clear: DUPONT'), expect.stringContaining('clear: Résultats biologie')]));
  });
});

function findLeaks(sealed: Buffer): string[] {
  const { clear, armored, routing } = regions(sealed);
  const leaks: string[] = [];
  for (const needle of NEEDLES) {
    for (const form of formsOf(needle)) {
      if (occurs(clear, form)) leaks.push(`clear: ${needle} as ${form.text}`);
      if (form.text.length >= 8 && (occurs(armored, form) || occurs(routing, form))) leaks.push(`ciphertext: ${needle} as ${form.text}`);
    }
  }
  return leaks;
}
