/**
 * A delivery to a record server and its filing rows are ONE store transaction
 * (LocalDelivery.deliverWith), on both stores. A process that dies between the two writes (crash
 * point `delivery:before-also`, SIGKILL) leaves neither: no message in the record server's INBOX
 * (nor the sender's Sent copy), no patient, no document. The same submission made again delivers
 * and files both. Likewise a record request's sends and its own row (who received the record, on
 * what basis): a request killed between them sent nothing and recorded nothing. A large message (a
 * sealed file, not in memory) goes the same way. Each runs in a child
 * process (the real DeliveryService and sendRecord from dist/, on the test's data folder and
 * database), so that it can be killed at that point.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { GatewayContext } from '../../src/context.js';
import { prepareGatewayData, type PreparedGateway } from '../helpers/in-process-gateway.js';
import { describeOnStores } from '../helpers/stores.js';

const PAUL = 'paul.demo@cabinet-antony.medgate.test';
const RMP = 'rmp@cabinet-antony.medgate.test';
const PW = 'correct horse battery';
const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist');

/** One submission from PAUL to the record server through DeliveryService.acceptSubmission; prints its Message-ID. */
const SUBMIT = `
const [configFile, from, pw, to, dist, large] = process.argv.slice(1);
const { loadConfig } = await import(dist + '/config/load.js');
const { createContext } = await import(dist + '/context.js');
const { DeliveryService } = await import(dist + '/smtp/delivery.js');
const fs = await import('node:fs');
const path = await import('node:path');
const ctx = await createContext(loadConfig(configFile), { logDestination: { write() {} } });
const sender = await ctx.accounts.unlock(from, pw);
const rcpt = await (await ctx.sealer()).resolveRecipient(to);
if (!rcpt.ok) throw new Error('record server not resolvable');
const patient = large ? ['X-Medgate-Patient-Nom: MARTIN', 'X-Medgate-Patient-Prenom: Claire', 'X-Medgate-Patient-Naissance: 12/05/1971']
  : ['X-Medgate-Patient-Nom: DUPONT', 'X-Medgate-Patient-Prenom: Jean', 'X-Medgate-Patient-Naissance: 30/01/1959'];
// A large message (a scan, 1.5 MB) takes the file path, as from the SMTP spool: sealed file to file.
const body = large ? Array.from({ length: 20000 }, (_, i) => 'Ligne ' + String(i).padStart(5, '0') + ' ' + 'x'.repeat(64)).join('\\r\\n') : 'Compte rendu de consultation.';
const raw = Buffer.from(['From: ' + from, 'To: ' + to, 'Subject: Compte rendu', ...patient, '', body, ''].join('\\r\\n'));
let source = { raw };
if (large) {
  const file = path.join(ctx.config.dataDir, 'test-large-' + process.pid + '.eml');
  fs.writeFileSync(file, raw, { mode: 0o600 });
  source = { file };
}
const accepted = await new DeliveryService(ctx).acceptSubmission({
  source, sender: { address: from, pgpKey: sender.pgpKey, entry: await ctx.directory.lookup(from) }, envelopeFrom: from, recipients: [rcpt],
});
process.stdout.write(JSON.stringify({ messageId: accepted.messageId }));
await ctx.close();
process.exit(0);
`;

/** An emergency record request of the record server's patient by PAUL (sendRecord). */
const REQUEST = `
const [configFile, rmp, pw, doctor, patientId, dist] = process.argv.slice(1);
const { loadConfig } = await import(dist + '/config/load.js');
const { createContext } = await import(dist + '/context.js');
const { sendRecord } = await import(dist + '/filing/record-request.js');
const ctx = await createContext(loadConfig(configFile), { logDestination: { write() {} } });
const sent = await sendRecord(ctx, { patientId, doctor, emergencyReason: 'Urgence vitale', recordServer: { address: rmp, password: pw } });
process.stdout.write(JSON.stringify(sent));
await ctx.close();
process.exit(0);
`;

type Run = { code: number | null; signal: string | null; stdout: string; stderr: string };

function submit(configFile: string, crashAt?: string, large = false): Promise<Run> {
  return node(SUBMIT, [configFile, PAUL, PW, RMP, DIST, ...(large ? ['large'] : [])], crashAt);
}

function node(script: string, args: string[], crashAt?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ['--input-type=module', '-e', script, ...args], {
      timeout: 90_000, env: { ...process.env, ...(crashAt ? { MEDGATE_TEST_CRASH_AT: crashAt } : {}) },
    }, (_err, stdout, stderr) => resolve({ code: child.exitCode, signal: child.signalCode, stdout, stderr }));
  });
}

describeOnStores('a delivery to a record server and its filing rows: both or neither', (store) => {
  let prepared: PreparedGateway;
  let ctx: GatewayContext;

  beforeAll(async () => {
    prepared = await prepareGatewayData({ store, accounts: [{ address: PAUL, kind: 'person', rpps: '10100000017', password: PW }, { address: RMP, kind: 'rmp', password: PW }] });
    ctx = prepared.ctx;
  }, 120_000);
  afterAll(async () => { await prepared?.dispose(); });

  const count = async (owner: string, name: string): Promise<number> => {
    const box = await ctx.store.mail.getMailbox(owner, name);
    return box ? (await ctx.store.mail.listMessages(box.id)).length : 0;
  };

  it('killed between the placement and the filing rows: neither; submitted again: both', async () => {
    const killed = await submit(prepared.configFile, 'delivery:before-also');
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(await count(RMP, 'INBOX')).toBe(0);
    expect(await count(PAUL, 'Sent')).toBe(0);
    expect(await ctx.store.filing.listPatients()).toEqual([]);

    const done = await submit(prepared.configFile);
    expect(done.code, done.stderr).toBe(0);
    const { messageId } = JSON.parse(done.stdout) as { messageId: string };
    expect(await count(RMP, 'INBOX')).toBe(1);
    const patients = await ctx.store.filing.listPatients();
    expect(patients).toHaveLength(1);
    const documents = await ctx.store.filing.documentsOfMessage(messageId);
    expect(documents.length).toBeGreaterThan(0);
    expect(documents.every((d) => d.patientId === patients[0]!.id)).toBe(true);
  }, 120_000);

  it('a record request killed between its sends and its row: nothing sent, nothing recorded; made again: both', async () => {
    const [patient] = await ctx.store.filing.listPatients();
    expect(patient).toBeDefined(); // filed by the test above
    const request = (crashAt?: string): Promise<Run> => node(REQUEST, [prepared.configFile, RMP, PW, PAUL, patient!.id, DIST], crashAt);
    const before = await count(PAUL, 'INBOX');

    const killed = await request('delivery:before-also');
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(await count(PAUL, 'INBOX')).toBe(before);
    expect(await ctx.store.filing.listRequests()).toEqual([]);

    const done = await request();
    expect(done.code, done.stderr).toBe(0);
    const sent = JSON.parse(done.stdout) as { requestId: string; messages: number };
    expect(await count(PAUL, 'INBOX')).toBe(before + sent.messages);
    expect((await ctx.store.filing.listRequests()).map((r) => [r.id, r.basis, r.outcome])).toEqual([[sent.requestId, 'emergency', 'sent']]);
  }, 120_000);

  it('a large message (a sealed file, 1.5 MB) killed between its placement and its filing rows: neither; again: both', async () => {
    const inbox = await count(RMP, 'INBOX');
    const sent = await count(PAUL, 'Sent');
    const patients = (await ctx.store.filing.listPatients()).length;

    const killed = await submit(prepared.configFile, 'delivery:before-also', true);
    expect(killed.signal, killed.stderr).toBe('SIGKILL');
    expect(await count(RMP, 'INBOX')).toBe(inbox);
    expect(await count(PAUL, 'Sent')).toBe(sent);
    expect(await ctx.store.filing.listPatients()).toHaveLength(patients);

    const done = await submit(prepared.configFile, undefined, true);
    expect(done.code, done.stderr).toBe(0);
    const { messageId } = JSON.parse(done.stdout) as { messageId: string };
    expect(await count(RMP, 'INBOX')).toBe(inbox + 1);
    const box = (await ctx.store.mail.getMailbox(RMP, 'INBOX'))!;
    const stored = (await ctx.store.mail.listMessages(box.id)).at(-1)!;
    expect(stored.sealedSize).toBeGreaterThan(1024 * 1024);
    expect(await ctx.store.filing.listPatients()).toHaveLength(patients + 1);
    const documents = await ctx.store.filing.documentsOfMessage(messageId);
    expect(documents.length).toBeGreaterThan(0);
    expect(documents.every((d) => d.blobId === stored.blobId)).toBe(true);
  }, 120_000);
});
