/**
 * The classification corpus (test/fixtures/classification-corpus.tsv): subjects, file names, XDM
 * titles and first lines of bodies as French doctors, labs and practice software write them, each
 * with its expected document type and the public source of its wording. Every row goes through
 * classifyMessage the way a message would carry it; the accuracy is printed and must stay >= 95 %.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { classifyMessage, DOCUMENT_TYPES } from '../../src/message/classify/index.js';
import type { XdmContent } from '../../src/message/identity/xdm.js';
import { input, SMALL_PDF } from './fixtures.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CORPUS = path.join(here, '..', 'fixtures', 'classification-corpus.tsv');

interface Row { line: number; kind: string; text: string; expected: string; source: string }

function readCorpus(): Row[] {
  const [header, ...lines] = fs.readFileSync(CORPUS, 'utf8').split('\n').filter((l) => l !== '');
  expect(header).toBe('kind\ttext\texpected\tsource');
  return lines.map((l, i) => {
    const [kind, text, expected, source] = l.split('\t');
    return { line: i + 2, kind: kind!, text: text!.replace(/\\n/g, '\n').replace(/\\\\/g, '\\'), expected: expected!, source: source ?? '' };
  });
}

/** The type the gateway gives the row's document, carried where that kind of text is. */
function classify(row: Row): string {
  switch (row.kind) {
    case 'subject': {
      // A subject with one attachment that says nothing of itself: the subject types it.
      const r = classifyMessage({ input: input({ subject: row.text, attachments: [{ filename: 'document.pdf', contentType: 'application/pdf', content: SMALL_PDF }] }) });
      return r.documents.find((d) => d.part === 'document.pdf')!.type;
    }
    case 'filename': {
      const contentType = /\.dcm$|^DICOMDIR$/i.test(row.text) ? 'application/dicom' : /\.txt$/i.test(row.text) ? 'text/plain' : /\.xml$/i.test(row.text) ? 'text/xml' : 'application/pdf';
      const r = classifyMessage({ input: input({ subject: 'Envoi', attachments: [{ filename: row.text, contentType, content: SMALL_PDF }] }) });
      return r.documents.find((d) => d.part === row.text)!.type;
    }
    case 'xdm-title': {
      const xdm: XdmContent = { archive: 'IHE_XDM.ZIP', entries: [{ id: 'Document01', title: row.text, subset: 'SUBSET01' }], patients: [], rejected: [] };
      const r = classifyMessage({ input: input({ subject: 'Envoi' }), xdm });
      return r.documents.find((d) => d.part === 'Document01')!.type;
    }
    case 'first-lines': {
      const r = classifyMessage({ input: input({ subject: 'Envoi', textBody: row.text }) });
      return r.documents.find((d) => d.part === 'body')!.type;
    }
    default:
      throw new Error(`line ${row.line}: unknown kind ${row.kind}`);
  }
}

describe('classification corpus', () => {
  const rows = readCorpus();

  it('has at least 300 rows, each with a known type and a named source', () => {
    expect(rows.length).toBeGreaterThanOrEqual(300);
    for (const r of rows) {
      expect(DOCUMENT_TYPES as readonly string[], `line ${r.line}`).toContain(r.expected);
      expect(r.source.trim(), `line ${r.line} names no source`).not.toBe('');
      expect(r.text.trim(), `line ${r.line}`).not.toBe('');
    }
  });

  it('classifies at least 95 % of the corpus right, and none of it as "other"', () => {
    const wrong: string[] = [];
    const perType = new Map<string, { ok: number; all: number }>();
    let other = 0;
    for (const r of rows) {
      const got = classify(r);
      const t = perType.get(r.expected) ?? { ok: 0, all: 0 };
      t.all++;
      if (got === r.expected) t.ok++;
      else wrong.push(`  line ${r.line} [${r.kind}] ${JSON.stringify(r.text)}: expected ${r.expected}, got ${got}`);
      if (got === 'other') other++;
      perType.set(r.expected, t);
    }
    const ok = rows.length - wrong.length;
    const accuracy = (100 * ok) / rows.length;
    const lines = [...perType.entries()].sort().map(([t, c]) => `  ${t.padEnd(20)} ${c.ok}/${c.all}`);
    console.log(`classification corpus: ${ok}/${rows.length} right, accuracy ${accuracy.toFixed(1)} %\n${lines.join('\n')}${wrong.length ? `\nmisclassified:\n${wrong.join('\n')}` : ''}`);
    expect(other, 'a document carrying a clinical word was filed as "other"').toBe(0);
    expect(accuracy).toBeGreaterThanOrEqual(95);
  });
});
