/**
 * IMAP conformance against Dovecot's imaptest, run on ONE real gateway (`medgate serve`, the
 * encrypted store behind the IMAP layer):
 *  - its scripted tests (all groups of `<tests dir>`, a few seconds): every group must pass, except those
 *    in ALLOWED_FAILURES below;
 *  - its stress mode with the mailbox-state checker, briefly, with and without LOGOUT: 0 errors.
 * imaptest is not part of this repository: IMAPTEST must point to a binary built outside it (see
 * docs/imap.md, "Conformance: Dovecot's imaptest"). Without it this suite says so loudly and is
 * reported as skipped, never as passed; MEDGATE_REQUIRE_IMAPTEST=1 makes that a failure.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CLI, prepareGateway, startServe, tempDir, writeGatewayConfig, type ServeProcess } from '../helpers/gateway.js';
import {
  imaptestArgs, locateImaptest, NOT_FOUND_BANNER, parseScripted, parseStress, runImaptest, summarizeErrors,
  type ImaptestLocation, type ScriptedResult,
} from '../helpers/imaptest.js';

/**
 * Groups allowed to fail, each with the RFC text that makes medgate's answer legal although it is
 * not the one imaptest (written against Dovecot) expects. Keep it short and quote the RFC exactly.
 * An entry whose group passes again fails the suite, so the list cannot go stale.
 */
const ALLOWED_FAILURES: ReadonlyArray<{ group: string; rfc: string }> = [];

const USER = 'paul.demo@cabinet-antony.medgate.test';
const USER2 = 'jl.letest@cabinet-antony.medgate.test';
const PASS = 'imaptest-pass-1';

const found = locateImaptest();
const required = process.env['MEDGATE_REQUIRE_IMAPTEST'] === '1';

if (!found.ok) {
  // Loud on purpose: a green run without imaptest must not be mistaken for a conformance check.
  const bar = '!'.repeat(NOT_FOUND_BANNER.length);
  process.stderr.write(`\n${bar}\n${NOT_FOUND_BANNER}\n(${found.reason})\n${bar}\n\n`);
  if (required) {
    test('imaptest is required (MEDGATE_REQUIRE_IMAPTEST=1)', () => {
      throw new Error(`${NOT_FOUND_BANNER} (${found.reason})`);
    });
  } else {
    test.skip(`${NOT_FOUND_BANNER} (${found.reason})`, () => {});
  }
} else {
  const loc: ImaptestLocation = found.location;

  describe('Dovecot imaptest against medgate serve', () => {
    let dir: string;
    let gw: ServeProcess | undefined;
    let port: number;

    beforeAll(async () => {
      if (!fs.existsSync(path.join(loc.testsDir, 'default.mbox'))) {
        throw new Error(`imaptest's scripted tests not found in ${loc.testsDir} (no default.mbox); set IMAPTEST_TESTS to its src/tests directory`);
      }
      if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: run \`npx tsc -p tsconfig.json\` first`);
      dir = tempDir('medgate-imaptest-');
      // IMAPTEST_PORT: a fixed port for machines where ports are handed out; 0 lets the OS pick.
      const configFile = writeGatewayConfig(dir, { ports: { imapTls: Number(process.env['IMAPTEST_PORT'] ?? 0) } });
      await prepareGateway(configFile, [
        { address: USER, kind: 'person', rpps: '10100000017', password: PASS },
        { address: USER2, kind: 'person', rpps: '10100000041', password: PASS },
      ]);
      gw = await startServe(configFile);
      port = gw.ports['imapTls']!;
      // The stress checker needs existing mailboxes of its own (the scripted tests recreate "imaptest").
      const client = new ImapFlow({
        host: '127.0.0.1', port, secure: true, logger: false, auth: { user: USER, pass: PASS },
        tls: { ca: fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8'), servername: 'localhost' },
      });
      await client.connect();
      await client.mailboxCreate('stress-nologout');
      await client.mailboxCreate('stress-logout');
      await client.logout();
    });

    afterAll(async () => {
      await gw?.stop();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    test('scripted tests: every group passes (or is allow-listed with its RFC reason)', async () => {
      const run = await runImaptest(loc, imaptestArgs({ host: '127.0.0.1', port, user: USER, user2: USER2, pass: PASS }, [`test=${loc.testsDir}`]), 240_000);
      const r = parseScripted(run.stdout, run.stderr);
      if (!r.summary) {
        throw new Error(`imaptest gave no summary (exit ${run.code}, signal ${run.signal}${run.timedOut ? ', killed after the timeout' : ''}):\n`
          + `${run.stdout.slice(-2000)}\n${run.stderr.split('\n').slice(-40).join('\n')}`);
      }
      const allowed = new Map(ALLOWED_FAILURES.map((a) => [a.group, a.rfc]));
      const unexpected = [...r.failures.keys()].filter((g) => !allowed.has(g));
      const stale = [...allowed.keys()].filter((g) => !r.failures.has(g));
      const report = [...gatewayGone(gw!), scriptedReport(r, unexpected, stale)].join('\n');
      console.log(`imaptest scripted: ${r.summary.groups} groups, ${r.summary.failed} failed (${[...r.failures.keys()].join(', ') || 'none'}), ${r.summary.skipped} skipped; `
        + `base ${r.base?.failed}/${r.base?.total}, extensions ${r.extensions?.failed}/${r.extensions?.total} commands failed`);
      // A tests folder with (almost) nothing in it would pass vacuously: revision 924f619 has 71 groups.
      expect(r.summary.groups, `imaptest ran only ${r.summary.groups} scripted groups: is IMAPTEST_TESTS the right folder?`).toBeGreaterThanOrEqual(71);
      expect(unexpected.length + stale.length, report).toBe(0);
      // Every failing group must have been read from a `*** Test` block, or this parser missed some.
      expect(r.failures.size, `summary says ${r.summary.failed} failed groups, parsed ${r.failures.size}`).toBe(r.summary.failed);
    }, 300_000);

    for (const variant of [{ name: 'logout=0', box: 'stress-nologout', args: ['logout=0'] }, { name: 'default LOGOUT', box: 'stress-logout', args: [] }]) {
      test(`stress with the mailbox-state checker, clients=10 secs=10 ${variant.name}: 0 errors`, async () => {
        const run = await runImaptest(loc, imaptestArgs({ host: '127.0.0.1', port, user: USER, pass: PASS }, [
          `mbox=${path.join(loc.testsDir, 'default.mbox')}`, `box=${variant.box}`, 'clients=10', 'secs=10', ...variant.args,
        ]), 120_000);
        const s = parseStress(run.stdout, run.stderr);
        const totals = s.columns.map((c) => `${c} ${s.totals[c]}`).join(', ');
        console.log(`imaptest stress ${variant.name}: exit ${run.code}${run.signal ? ` (${run.signal})` : ''}, ${s.errors.length} errors, totals: ${totals || 'none (no Totals table)'}`);
        const problems = [
          ...gatewayGone(gw!),
          ...(run.code !== 0 ? [`imaptest ${run.signal ? `killed by ${run.signal}` : `exited with ${run.code}`}${run.timedOut ? ' (at the timeout)' : ''}`] : []),
          ...s.fatal.map((f) => `imaptest gave up: ${f.slice(0, 300)}`),
          ...(s.totalCommands === 0 ? ['no Totals table, or no command completed'] : []),
          ...(s.errors.length ? [`${s.errors.length} Error lines, most frequent first:`, ...summarizeErrors(s.errors).map((l) => `  ${l}`)] : []),
        ];
        expect(problems.length, `imaptest stress (${variant.name}, box ${variant.box}) against medgate:\n${problems.join('\n')}\n`).toBe(0);
      }, 180_000);
    }
  });
}

/** If the gateway is no longer running: how it ended and its last log lines (its replies above then mean little). */
function gatewayGone(gw: ServeProcess): string[] {
  const { exitCode, signalCode } = gw.child;
  if (exitCode === null && signalCode === null) return [];
  return [`THE GATEWAY EXITED during the run (${signalCode ?? `code ${exitCode}`}); its last output:`,
    ...[...gw.logs.slice(-15), ...gw.stderr.join('').split('\n').slice(-15)].map((l) => `    ${l.slice(0, 300)}`)];
}

/** The assertion message: unexpected failing groups with their first mismatch, then stale allow-list entries. */
function scriptedReport(r: ScriptedResult, unexpected: string[], stale: string[]): string {
  const out: string[] = [];
  if (unexpected.length) {
    out.push(`${unexpected.length} imaptest group(s) failed that are not in ALLOWED_FAILURES: ${unexpected.join(', ')}`);
    for (const g of unexpected) {
      const blocks = r.failures.get(g)!;
      const first = blocks[0]!;
      out.push(`--- ${g}: ${blocks.length} failing command group(s); first: ${first.header.replace(/^\*\*\* Test \S+ /, '')}`);
      // The " - failed/expanded/best match/Command" lines; the rest is the body of quoted literals.
      const key = first.lines.filter((l) => /^( - |Match: |Reply: )/.test(l));
      for (const l of key.slice(0, 8)) out.push(`    ${l.length > 200 ? `${l.slice(0, 200)}…` : l}`);
    }
    out.push(`(one group alone, full output: LD_LIBRARY_PATH=/usr/lib/dovecot $IMAPTEST host=127.0.0.1 port=<imapTls> ssl=any-cert user=${USER} user2=${USER2} pass=${PASS} test=$IMAPTEST_TESTS/<group>)`);
  }
  if (stale.length) out.push(`ALLOWED_FAILURES lists group(s) that now pass, remove them: ${stale.join(', ')}`);
  if (r.errors.length) out.push('imaptest log lines (state-checker errors during the run):', ...summarizeErrors(r.errors, 20).map((l) => `    ${l}`));
  return out.join('\n');
}
