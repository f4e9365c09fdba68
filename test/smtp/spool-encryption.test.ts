import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSmtpClient } from './fixtures/smtp-client.js';
import { JL, PASSWORD, PAUL, prepareSubmissionServe, rawMessage } from './fixtures/submission-gateway.js';
import { startServe, type ServeProcess } from '../helpers/gateway.js';

/**
 * Issue 27 item 7: the spool is encrypted with a key per message held only in memory. A gateway
 * killed with SIGKILL in the middle of a large DATA leaves a spool file behind, and nothing in it
 * is readable: not the patient's words, not the headers.
 */
const MARKER = 'MARQUEUR-PATIENT-DUPONT-JEAN-1959';

describe('spool encryption (medgate serve, kill -9 mid-DATA)', () => {
  // A real `medgate serve` process (it is killed), on a data folder prepared through the services.
  let prepared: Awaited<ReturnType<typeof prepareSubmissionServe>>;
  let serve: ServeProcess;
  let caPem: string;
  beforeAll(async () => {
    prepared = await prepareSubmissionServe({ store: 'sqlite', maxMessageBytes: 16 * 1024 * 1024 });
    caPem = fs.readFileSync(prepared.caFile, 'utf8');
    serve = await startServe(prepared.configFile);
  }, 120_000);
  afterAll(async () => { await serve?.stop('SIGKILL'); await prepared?.dispose(); });

  it('a large message half received: the spool file holds ciphertext only, and after kill -9 nothing readable is left', async () => {
    const spoolDir = prepared.spoolDir;
    const { client, auth } = await RawSmtpClient.loggedIn(serve.ports['smtpSubmission']!, caPem, PAUL, PASSWORD[PAUL]!);
    expect(auth.code).toBe(235);
    expect((await client.cmd(`MAIL FROM:<${PAUL}>`)).code).toBe(250);
    expect((await client.cmd(`RCPT TO:<${JL}>`)).code).toBe(250);
    expect((await client.cmd('DATA')).code).toBe(354);
    const line = `${MARKER} compte rendu, ligne de texte clair pour le patient.\r\n`;
    const body = line.repeat(Math.ceil((3 * 1024 * 1024) / line.length));
    const message = rawMessage({ from: PAUL, to: [JL], subject: `Patient ${MARKER}`, body });
    // Everything but the end of DATA: the server keeps receiving, the message is never complete.
    client.write(message);
    const spoolBytes = (): number => (fs.existsSync(spoolDir)
      ? fs.readdirSync(spoolDir).reduce((n, f) => n + fs.statSync(path.join(spoolDir, f)).size, 0) : 0);
    const until = Date.now() + 30_000;
    while (spoolBytes() < 2 * 1024 * 1024) {
      if (Date.now() > until) throw new Error(`the spool did not fill: ${spoolBytes()} bytes`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await serve.stop('SIGKILL');
    client.close();
    const files = fs.readdirSync(spoolDir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = fs.readFileSync(path.join(spoolDir, f));
      expect(bytes.length).toBeGreaterThan(0);
      expect(fs.statSync(path.join(spoolDir, f)).mode & 0o077).toBe(0);
      // Neither the marker nor any header line, in any of the encodings a reader might try.
      for (const needle of [MARKER, 'compte rendu', `From: ${PAUL}`, 'Subject:', 'Content-Type']) {
        expect(bytes.includes(Buffer.from(needle, 'latin1')), `${f}: ${needle}`).toBe(false);
        expect(bytes.includes(Buffer.from(needle, 'utf16le')), `${f}: ${needle}`).toBe(false);
      }
      expect(bytes.toString('latin1')).not.toMatch(/[A-Za-z ]{40}/); // no run of text at all
    }
  }, 90_000);
});
