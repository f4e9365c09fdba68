import type { Command } from 'commander';
/** The filing services: loaded by the command that runs, not by every `medgate` start. */
const filingFor: typeof import('../filing/context.js').filingFor = async (ctx) => (await import('../filing/context.js')).filingFor(ctx);
import type { FiledIdentity } from '../filing/identity-hashes.js';
import type { ImportReport } from '../filing/import.js';
import { isMedgateError, MedgateError } from '../errors.js';
import { addConfigOption, out, promptSecret, withContext } from './common.js';

function who(p: FiledIdentity): string {
  const ins = p.ins ? `  INS ${p.ins.value}` : '';
  return `${p.familyName.toUpperCase()} ${p.givenName}  born ${p.birthDate}${p.sex ? `  sex ${p.sex}` : ''}${ins}`;
}

/** A progress bar on stderr, only when stderr is a terminal (scripts and logs stay clean). */
function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (done, total) => {
    const width = 30;
    const filled = total ? Math.round((done / total) * width) : width;
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total}`);
    if (done === total) process.stderr.write('\n');
  };
}

function printImport(r: ImportReport): void {
  for (const p of r.patients) {
    const verb = r.dryRun ? 'would be' : 'was';
    const what = p.outcome === 'new' ? `${verb} created` : p.outcome === 'rejected' ? 'rejected' : p.outcome === 'reconcile' ? `${verb} sent to reconciliation` : `${verb} matched`;
    out(`${p.folder}: patient ${what}${p.reason ? ` (${p.reason})` : ''}; documents ${r.dryRun ? 'to file' : 'filed'} ${p.documents.filed}, already present ${p.documents.alreadyPresent}, rejected ${p.documents.rejected.length}`);
    for (const d of p.documents.rejected) out(`  rejected ${d.file}: ${d.reason}`);
    if (p.unverified) out(`  ${p.unverified} document(s) filed as unverified: their routing header does not open or verify on this gateway`);
  }
  const t = r.totals;
  out(`${r.dryRun ? 'dry run — ' : ''}patients created ${t.created}, matched ${t.matched}, reconcile ${t.reconcile}, rejected ${t.rejected}; documents ${t.documents}, rejected ${t.documentsRejected}`);
}

/** `medgate patients …`: the filing store, for the operator of a record-server gateway. */
export function registerPatientsCommands(program: Command): void {
  const patients = addConfigOption(program.command('patients').description('patients filed for record servers: search, show, reconcile, export, import'));

  addConfigOption(patients.command('search <letters>')
    .description('patients whose family name starts with these letters (accents and case ignored)')
    .option('--json', 'print JSON'))
    .action(async (letters: string, opts: { json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const found = await (await filingFor(ctx)).search(letters);
        await ctx.audit.record({ actor: 'operator', action: 'patients.search', outcome: 'ok', details: { results: found.length } });
        if (opts.json) { out(JSON.stringify(found, null, 2)); return; }
        if (!found.length) { out('no patient found'); return; }
        for (const p of found) out(`${p.id}  ${who(p.identity)}${p.status === 'reconcile' ? '  [to reconcile]' : ''}`);
      });
    });

  addConfigOption(patients.command('show <id>')
    .description('a patient: identity, access code, treating doctor, documents by tab')
    .option('--json', 'print JSON'))
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const view = await (await filingFor(ctx)).show(id);
        await ctx.audit.record({ actor: 'operator', action: 'patients.show', outcome: 'ok', details: { patientId: view.id } });
        if (opts.json) { out(JSON.stringify(view, null, 2)); return; }
        out(`${view.id}  ${who(view.identity)}${view.status === 'reconcile' ? '  [to reconcile]' : ''}`);
        out(`access code: ${view.accessCode}`);
        out(`treating doctor: ${view.treatingDoctor ? `${view.treatingDoctor}${view.treatingDoctorSetBy === 'operator' ? ' (set by the operator)' : ' (first summary)'}` : '(none yet)'}`);
        for (const [tab, docs] of Object.entries(view.tabs)) {
          out(`${tab} (${docs.length})`);
          for (const d of docs) {
            out(`  ${d.id}  ${d.date}  ${d.type}  ${d.part}  from ${d.sender}${d.title ? `  "${d.title}"` : ''}${d.writtenAs === 'replacement' ? '  [written as a replacement]' : ''}${d.supersededBy ? `  superseded by ${d.supersededBy}` : ''}`);
            if (d.author.status !== 'sender') out(`      ${d.authorMark}`);
          }
        }
      });
    });

  addConfigOption(patients.command('set-treating <id> [doctor]')
    .description('name the patient\'s treating doctor (an active person of the directory), e.g. when a replacement\'s summary came first; --first-summary returns to the rule of the first summary')
    .option('--first-summary', 'forget the doctor the operator set: the writer of the first summary (not a replacement\'s) is the treating doctor again'))
    .action(async (id: string, doctor: string | undefined, opts: { firstSummary?: boolean }, cmd: Command) => {
      if (!doctor === !opts.firstSummary) throw new MedgateError('USAGE', 'give the treating doctor\'s address, or --first-summary (not both)');
      await withContext(cmd, async (ctx) => {
        const address = doctor?.trim().toLowerCase();
        if (address) {
          const entry = await ctx.directory.lookup(address);
          if (!entry || entry.status !== 'active' || entry.mailboxType !== 'PER') {
            throw new MedgateError('USAGE', `${address} is not an active person of the health directory: a treating doctor is one (check the address with 'medgate directory show', or import the directory)`);
          }
        }
        const filing = await filingFor(ctx);
        const r = await filing.setTreatingDoctor(id, address ?? null);
        const now = await filing.treatingDoctor(r.patientId);
        // Doctors' addresses and the pseudonymous patient id: nothing medical.
        await ctx.audit.record({ actor: 'operator', action: 'patients.set-treating', outcome: 'ok', details: { patientId: r.patientId, doctor: now, previous: r.previous, setBy: address ? 'operator' : 'first-summary' } });
        out(`treating doctor of ${r.patientId}: ${now ?? '(none yet)'}${address ? ' (set by the operator)' : ' (first summary)'}${r.previous !== now ? `, was ${r.previous ?? '(none)'}` : ', unchanged'}`);
      });
    });

  const reconcile = addConfigOption(patients.command('reconcile').description('items whose patient match is uncertain: never merged without the operator'));
  addConfigOption(reconcile.command('list').description('open reconciliation entries').option('--all', 'include resolved entries').option('--json', 'print JSON'))
    .action(async (opts: { all?: boolean; json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const rows = await (await filingFor(ctx)).listReconcile(!!opts.all);
        if (opts.json) { out(JSON.stringify(rows, null, 2)); return; }
        if (!rows.length) { out('nothing to reconcile'); return; }
        for (const r of rows) {
          out(`${r.id}  ${r.status}  ${r.reason}`);
          out(`  item patient:      ${r.patient ? `${r.patientId}  ${who(r.patient)}` : '(no patient identity)'}`);
          if (r.candidate) out(`  may be patient:    ${r.candidateId}  ${who(r.candidate)}`);
        }
      });
    });
  addConfigOption(reconcile.command('merge <entry>').description('same patient: move the documents to the candidate (or --into)').option('--into <patient>', 'target patient id'))
    .action(async (entry: string, opts: { into?: string }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const r = await (await filingFor(ctx)).merge(entry, opts.into);
        await ctx.audit.record({ actor: 'operator', action: 'patients.reconcile.merge', outcome: 'ok', details: { entry, patientId: r.patientId, moved: r.moved } });
        out(`merged into ${r.patientId}: ${r.moved} document(s) moved`);
      });
    });
  addConfigOption(reconcile.command('separate <entry>').description('different patients: keep the item\'s patient as a patient of its own'))
    .action(async (entry: string, _o: unknown, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const r = await (await filingFor(ctx)).separate(entry);
        await ctx.audit.record({ actor: 'operator', action: 'patients.reconcile.separate', outcome: 'ok', details: { entry, patientId: r.patientId } });
        out(`kept separate: patient ${r.patientId}`);
      });
    });

  addConfigOption(patients.command('export [id]')
    .description('export one patient (or --all) as folders with export.xml and the sealed documents')
    .option('--all', 'every patient')
    .requiredOption('--out <dir>', 'output folder')
    .option('--passphrase <passphrase>', 'write one archive encrypted with this passphrase instead of clear folders')
    .option('--portable', 'also write each original document (PDF, HPRIM text, summary), decrypted with the record server\'s key, for other software')
    .option('--record-server <address>', 'portable: the record-server account whose key opens the documents (default: console.recordServer, or the only one)')
    .option('--record-server-password-file <file>', 'portable: file holding that account\'s password (default: console.recordServerPasswordFile)')
    .option('--write-clear-files', 'portable without --passphrase: write the decrypted documents IN CLEAR on disk'))
    .action(async (id: string | undefined, opts: { all?: boolean; out: string; passphrase?: string; portable?: boolean; recordServer?: string; recordServerPasswordFile?: string; writeClearFiles?: boolean }, cmd: Command) => {
      if (!id && !opts.all) throw new MedgateError('USAGE', 'give a patient id or --all');
      if (opts.portable && !opts.passphrase && !opts.writeClearFiles) {
        throw new MedgateError('USAGE', 'a portable export holds the decrypted documents: give --passphrase (one encrypted archive), or --write-clear-files to write them in clear on disk');
      }
      await withContext(cmd, async (ctx) => {
        const filing = await filingFor(ctx);
        const progress = progressBar('export');
        const { exportPatients } = await import('../filing/export.js');
        let originals: Parameters<typeof exportPatients>[2]['originals'];
        let decrypted = 0;
        if (opts.portable) {
          const { RecordServerKey, openDocument, recordServerAddress } = await import('../console/records.js');
          const address = opts.recordServer?.trim().toLowerCase() ?? await recordServerAddress(ctx);
          const key = new RecordServerKey(ctx, address, opts.recordServerPasswordFile);
          if (!key.available) throw new MedgateError('USAGE', 'a portable export needs the record server\'s key: give --record-server and --record-server-password-file (or set console.recordServer and console.recordServerPasswordFile)');
          originals = async (d, patientId) => {
            const opened = await openDocument(ctx, filing, key, await filing.document(d.id));
            // Each decryption is audited (document and patient ids, never content or names).
            await ctx.audit.record({ actor: 'operator', action: 'patients.export.decrypt', outcome: opened ? 'ok' : 'failed', details: { documentId: d.id, patientId, recordServer: address, clear: !opts.passphrase } });
            if (opened) decrypted++;
            return opened ? { content: opened.content, filename: opened.filename, contentType: opened.contentType } : undefined;
          };
        }
        let r: Awaited<ReturnType<typeof exportPatients>>;
        try {
          r = await exportPatients(filing, ctx.store.mail, {
            ...(id ? { ids: [(await filing.patientRow(id)).id] } : {}), out: opts.out,
            ...(opts.passphrase ? { passphrase: opts.passphrase } : {}), ...(progress ? { progress } : {}),
            ...(originals ? { originals, clearFiles: !!opts.writeClearFiles } : {}),
          });
        } catch (err) {
          // Nothing was left on disk (src/filing/export.ts); the audit says why, by code and document ids.
          const code = isMedgateError(err) ? err.code : 'UNEXPECTED';
          const documentIds = isMedgateError(err) && Array.isArray(err.details?.documentIds) ? err.details.documentIds : undefined;
          await ctx.audit.record({ actor: 'operator', action: 'patients.export', outcome: 'failed', details: { code, ...(documentIds ? { documentIds } : {}), ...(opts.portable ? { portable: true } : {}) } });
          throw err;
        }
        await ctx.audit.record({ actor: 'operator', action: 'patients.export', outcome: 'ok', details: { patients: r.patients, documents: r.documents, encrypted: !!opts.passphrase, ...(opts.portable ? { portable: true, decrypted } : {}) } });
        out(`exported ${r.patients} patient(s), ${r.documents} document(s) to ${opts.out}${opts.passphrase ? ` (encrypted archive ${r.written[0]})` : ''}`);
      });
    });

  addConfigOption(patients.command('import <source>')
    .description('import an export folder or encrypted archive; --dry-run reports what would be created, matched or rejected')
    .option('--dry-run', 'report only, write nothing')
    .option('--passphrase <passphrase>', 'passphrase of an encrypted archive')
    .option('--json', 'print JSON'))
    .action(async (source: string, opts: { dryRun?: boolean; passphrase?: string; json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const sealer = await ctx.sealer();
        const verify = async (sealed: Buffer) => {
          try {
            const { routing, verification } = await sealer.openRouting(sealed);
            return { signer: verification.signer, fingerprint: verification.fingerprint, contentDigest: routing.contentDigest };
          } catch {
            return undefined; // not addressed to this gateway's filing key, or no longer verifiable: imported unverified
          }
        };
        const { importPatients } = await import('../filing/import.js');
        const r = await importPatients(await filingFor(ctx), ctx.store.mail, { source, dryRun: !!opts.dryRun, verify, ...(opts.passphrase ? { passphrase: opts.passphrase } : {}) });
        if (!r.dryRun) await ctx.audit.record({ actor: 'operator', action: 'patients.import', outcome: 'ok', details: { ...r.totals } });
        if (opts.json) out(JSON.stringify(r, null, 2));
        else printImport(r);
      });
    });

  addConfigOption(patients.command('send <id>')
    .description('send a patient\'s record (or one document) to a doctor, re-encrypted for them; treating doctor, access code or emergency')
    .requiredOption('--to <address>', 'the doctor asking for the record (receives it)')
    .option('--document <id>', 'only this document')
    .option('--access-code <code>', 'the patient\'s access code presented by the doctor')
    .option('--emergency', 'emergency ("bris de glace") request without access code: audited and listed for justification')
    .option('--reason <text>', 'reason of an emergency request (stored encrypted)')
    .requiredOption('--rmp <address>', 'the record-server account whose key opens the filed items')
    .option('--password <password>', 'the record-server account\'s password (else prompted or read from stdin)')
    .option('--json', 'print JSON'))
    .action(async (id: string, opts: { to: string; document?: string; accessCode?: string; emergency?: boolean; reason?: string; rmp: string; password?: string; json?: boolean }, cmd: Command) => {
      if (opts.emergency && opts.accessCode !== undefined) throw new MedgateError('USAGE', 'give either --access-code or --emergency, not both');
      if (opts.emergency && !opts.reason?.trim()) throw new MedgateError('USAGE', 'an emergency request needs --reason');
      if (!opts.emergency && opts.reason !== undefined) throw new MedgateError('USAGE', '--reason goes with --emergency');
      const password = opts.password ?? await promptSecret(`password of ${opts.rmp}: `);
      await withContext(cmd, async (ctx) => {
        const { sendRecord } = await import('../filing/record-request.js'); // sealing code: only this command needs it
        const r = await sendRecord(ctx, {
          patientId: id, doctor: opts.to, recordServer: { address: opts.rmp, password },
          ...(opts.document ? { documentId: opts.document } : {}), ...(opts.accessCode !== undefined ? { accessCode: opts.accessCode } : {}),
          ...(opts.emergency ? { emergencyReason: opts.reason ?? '' } : {}),
        });
        if (opts.json) { out(JSON.stringify(r, null, 2)); return; }
        out(`request ${r.requestId} (${r.basis}): ${r.messages} sealed item(s), ${r.documents} document(s) ${r.delivery === 'local' ? 'delivered to' : 'queued for'} ${opts.to.trim().toLowerCase()}`);
      });
    });

  addConfigOption(patients.command('emergencies').description('emergency ("bris de glace") record requests, for justification').option('--json', 'print JSON'))
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      await withContext(cmd, async (ctx) => {
        const filing = await filingFor(ctx);
        const rows = await filing.emergencyAccesses();
        if (opts.json) { out(JSON.stringify(rows, null, 2)); return; }
        if (!rows.length) { out('no emergency request'); return; }
        for (const r of rows) out(`${r.at}  ${r.doctor}  patient ${r.patientId}  ${r.outcome}${r.documentId ? `  document ${r.documentId}` : ''}  reason: ${r.reason ?? ''}`);
      });
    });
}
