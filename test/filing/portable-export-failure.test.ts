/**
 * A portable export that fails midway leaves no decrypted document on disk (issue 30, item 5): with
 * `--write-clear-files` the originals are staged as they are decrypted; when a later one cannot be
 * decrypted the export fails (FILING_EXPORT_INCOMPLETE, naming document ids) and the staged clear
 * files go with the staging folder. The CLI's exit code and message are tested end to end in
 * forwarded-author-e2e (a wrong record-server password: nothing decrypts); here the first originals
 * DO decrypt before one fails, through the export writer the CLI calls, on both stores.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { exportPatients } from '../../src/filing/export.js';
import { describeOnStores } from '../helpers/stores.js';
import { filingFixture, messageId, routing, VERIFIED, type FilingFixture } from './helpers.js';

const MARKER = 'DECRYPTED ORIGINAL, MUST NOT OUTLIVE A FAILED EXPORT';

/** Every file under a folder, hidden ones included. */
const filesUnder = (dir: string): string[] => fs.readdirSync(dir, { recursive: true }).map(String).map((f) => path.join(dir, f)).filter((f) => fs.statSync(f).isFile());

describeOnStores('a portable export that fails midway', (kind) => {
  const open: FilingFixture[] = [];
  afterEach(async () => { await Promise.all(open.splice(0).map((f) => f.close())); });

  it('with --write-clear-files: the originals already decrypted are removed with the staging folder, and the error names the document ids', async () => {
    const f = await filingFixture(kind);
    open.push(f);
    for (const [i, part] of ['ECG.pdf', 'EFR.pdf', 'histologie.pdf'].entries()) {
      const { blobId } = await f.store.mail.commit(Buffer.from(`sealed ${part}`), []);
      await f.filing.ingest(routing({ type: 'exam-report', date: `2024-05-0${i + 1}`, documents: [{ part, type: 'exam-report' }] }), VERIFIED, blobId, messageId());
    }
    const out = path.join(f.dir, 'export');
    let decrypted = 0;
    let stagedClearFiles = 0;
    const failure = await exportPatients(f.filing, f.store.mail, {
      out, clearFiles: true,
      async originals(doc) {
        if (doc.part === 'histologie.pdf') {
          // The two others were decrypted and written in clear, in the staging folder beside `out`.
          stagedClearFiles = filesUnder(f.dir).filter((p) => p.includes('.partial-') && fs.readFileSync(p, 'utf8').includes(MARKER)).length;
          throw new Error('this one cannot be decrypted');
        }
        decrypted++;
        return { content: Buffer.from(`${MARKER} ${doc.part}`), filename: doc.part, contentType: 'application/pdf' };
      },
    }).then(() => undefined, (e: unknown) => e as { code?: string; message: string });

    expect(decrypted).toBe(2);
    expect(stagedClearFiles, 'the test must reach the failure with clear files already on disk').toBe(2);
    expect(failure?.code).toBe('FILING_EXPORT_INCOMPLETE');
    expect(failure?.message).toMatch(/the original of 1 document\(s\) could not be decrypted \([0-9a-f-]{36}\); nothing was written/);
    expect(failure?.message).not.toMatch(/DUPONT|Jean|1959/);
    // Nothing left: no export, no staging folder, no decrypted byte anywhere under the folder.
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(f.dir).filter((n) => n.includes('.partial-'))).toEqual([]);
    expect(filesUnder(f.dir).filter((p) => fs.readFileSync(p).includes(MARKER))).toEqual([]);
  });
});
