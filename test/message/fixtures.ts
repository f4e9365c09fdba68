/** Shared test material: the project samples, XDM archives, composed messages, a seeded PRNG. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { zipSync, strToU8 } from 'fflate';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { ExtractionInput } from '../../src/message/parse.js';

export const SAMPLES = '/work/shared/samples';
export const sample = (name: string): Buffer => readFileSync(join(SAMPLES, name));
export const METADATA_XML = (): string => sample('xdm/IHE_XDM/SUBSET01/METADATA.XML').toString('utf8');

/** A minimal but well-formed one-page PDF. */
export const SMALL_PDF = Buffer.from(
  '%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n' +
    '3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n',
);

export function buildXdmZip(metadata: string = METADATA_XML(), extra: Record<string, Uint8Array> = {}): Buffer {
  return Buffer.from(
    zipSync({
      'INDEX.HTM': strToU8('<html><body>IHE XDM</body></html>'),
      'README.TXT': strToU8('Archive IHE XDM de test'),
      'IHE_XDM/SUBSET01/METADATA.XML': strToU8(metadata),
      'IHE_XDM/SUBSET01/DOC0001.PDF': SMALL_PDF,
      ...extra,
    }),
  );
}

export function input(partial: Partial<ExtractionInput> = {}): ExtractionInput {
  return { headers: new Map(), attachments: [], ...partial };
}

export interface ComposeOptions {
  subject?: string;
  text?: string;
  headers?: Record<string, string>;
  attachments?: Array<{ filename: string; content: Buffer; contentType?: string }>;
}

export async function composeMessage(o: ComposeOptions): Promise<Buffer> {
  const mail = new MailComposer({
    from: 'Dr Paul DEMO <paul.demo@cabinet-antony.medgate.test>',
    to: 'rmp@rmp.medgate.test',
    subject: o.subject ?? 'Envoi',
    text: o.text ?? 'Bonjour,\nci-joint.\n',
    headers: o.headers ?? {},
    attachments: o.attachments ?? [],
  });
  return mail.compile().build();
}

/** mulberry32: small, seeded, reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}
