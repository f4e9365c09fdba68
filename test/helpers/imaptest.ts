/**
 * Running Dovecot's imaptest (https://github.com/dovecot/imaptest), built OUTSIDE this repository,
 * and reading its output. Nothing here builds or fetches imaptest: the binary is found through
 * the environment only —
 *   IMAPTEST        path to the imaptest binary
 *   IMAPTEST_TESTS  its scripted tests directory (default: `$(dirname $IMAPTEST)/tests`, as in its source tree)
 * Used by test/imap/imaptest.test.ts and bench/imaptest.bench.ts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ImaptestLocation {
  binary: string;
  testsDir: string;
}

export const NOT_FOUND_BANNER =
  'imaptest NOT FOUND: IMAP conformance NOT checked; set IMAPTEST=/path/to/imaptest built from dovecot/imaptest against dovecot-dev';

/** The imaptest binary named by IMAPTEST, or why it cannot be used. */
export function locateImaptest(env: NodeJS.ProcessEnv = process.env): { ok: true; location: ImaptestLocation } | { ok: false; reason: string } {
  const binary = env['IMAPTEST'];
  if (!binary) return { ok: false, reason: 'IMAPTEST is not set' };
  try {
    if (!fs.statSync(binary).isFile()) return { ok: false, reason: `IMAPTEST=${binary} is not a file` };
    fs.accessSync(binary, fs.constants.X_OK);
  } catch (err) {
    return { ok: false, reason: `IMAPTEST=${binary} is not executable (${(err as Error).message})` };
  }
  const testsDir = env['IMAPTEST_TESTS'] ?? path.join(path.dirname(binary), 'tests');
  return { ok: true, location: { binary: path.resolve(binary), testsDir: path.resolve(testsDir) } };
}

/**
 * The child's environment. imaptest links against Dovecot's private libraries (libdovecot.so),
 * which Debian installs outside the loader's default path, in /usr/lib/dovecot.
 */
export function imaptestEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const dirs = (env['LD_LIBRARY_PATH'] ?? '').split(':').filter(Boolean);
  if (fs.existsSync('/usr/lib/dovecot') && !dirs.includes('/usr/lib/dovecot')) dirs.push('/usr/lib/dovecot');
  return { ...env, LD_LIBRARY_PATH: dirs.join(':') };
}

export interface ImaptestRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** imaptest's command line for a server: its own keys (`host=`, `port=`, `user=`...) then `extra`. */
export function imaptestArgs(o: { host: string; port: number; user: string; user2?: string; pass: string }, extra: string[]): string[] {
  return [`host=${o.host}`, `port=${o.port}`, 'ssl=any-cert', `user=${o.user}`, ...(o.user2 ? [`user2=${o.user2}`] : []), `pass=${o.pass}`, ...extra];
}

const MAX_OUTPUT = 32 * 1024 * 1024;

/** Runs imaptest to completion (SIGKILL after `timeoutMs`), keeping its output. Never rejects on a non-zero exit. */
export function runImaptest(loc: ImaptestLocation, args: string[], timeoutMs: number): Promise<ImaptestRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // cwd: imaptest writes nothing there, but a throw-away place keeps a core dump out of the repo.
    const child = spawn(loc.binary, args, { env: imaptestEnv(), cwd: os.tmpdir(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => { if (stdout.length < MAX_OUTPUT) stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { if (stderr.length < MAX_OUTPUT) stderr += d.toString(); });
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.once('error', (err) => { clearTimeout(timer); reject(err); });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started, timedOut });
    });
  });
}

/** One `*** Test <group> ...` block of a scripted run: the header and the lines under it. */
export interface ScriptedFailure {
  group: string;
  header: string;
  lines: string[];
}

export interface ScriptedResult {
  summary?: { groups: number; failed: number; skipped: number };
  base?: { failed: number; total: number };
  extensions?: { failed: number; total: number };
  /** Failing groups in the order imaptest reported them, each with all its blocks. */
  failures: Map<string, ScriptedFailure[]>;
  /** imaptest's own `Error:`/`Panic:`/`Fatal:` lines (its protocol-state checker, crashes). */
  errors: string[];
}

const BLOCK = /^\*\*\* Test (\S+) (?:command \d+\/\d+ \(line \d+\)|initialization failed: .*)$/;
const LOG_LINE = /^(Error|Panic|Fatal|Warning): /;

/**
 * Reads a scripted run (`test=<dir>`): the summary from stdout ("71 test groups: 16 failed, 0 skipped
 * due to missing capabilities", then "base protocol: 31/453 ..." and "extensions: 18/96 ..."), the
 * failure blocks from stderr. A block runs until the next block or log line: literals quoted in a
 * block may contain blank lines, so a blank line does not end it.
 */
export function parseScripted(stdout: string, stderr: string): ScriptedResult {
  const result: ScriptedResult = { failures: new Map(), errors: [] };
  const s = /^(\d+) test groups: (\d+) failed, (\d+) skipped/m.exec(stdout);
  if (s) result.summary = { groups: Number(s[1]), failed: Number(s[2]), skipped: Number(s[3]) };
  const b = /^base protocol: (\d+)\/(\d+) individual commands failed/m.exec(stdout);
  if (b) result.base = { failed: Number(b[1]), total: Number(b[2]) };
  const e = /^extensions: (\d+)\/(\d+) individual commands failed/m.exec(stdout);
  if (e) result.extensions = { failed: Number(e[1]), total: Number(e[2]) };
  let current: ScriptedFailure | undefined;
  for (const line of stderr.split('\n')) {
    const m = BLOCK.exec(line);
    if (m) {
      current = { group: m[1]!, header: line, lines: [] };
      const list = result.failures.get(current.group) ?? [];
      list.push(current);
      result.failures.set(current.group, list);
    } else if (LOG_LINE.test(line)) {
      current = undefined;
      result.errors.push(line);
    } else if (current) {
      current.lines.push(line);
    }
  }
  for (const blocks of result.failures.values()) {
    for (const block of blocks) while (block.lines.length && block.lines.at(-1)!.trim() === '') block.lines.pop();
  }
  return result;
}

export interface StressResult {
  /** Command names as imaptest abbreviates them (Logi, List, Stat, Sele, Fetc, Fet2, Stor, Dele, Expu, Appe, Logo). */
  columns: string[];
  /** The "Totals:" row: how many of each command completed. */
  totals: Record<string, number>;
  totalCommands: number;
  /** imaptest's `Error:` lines: its mailbox-state checker's findings, and failed commands. */
  errors: string[];
  /** `Panic:`/`Fatal:` lines: imaptest itself gave up (often on a reply its state tracking cannot follow). */
  fatal: string[];
}

/**
 * Reads a stress run. stdout ends with
 *   Totals:
 *   Logi List Stat Sele Fetc Fet2 Stor Dele Expu Appe Logo
 *   100%  50%  50% 100% 100% 100%  50% 100% 100% 100% 100%
 *                             30%                  5%
 *    574  271  282  573  572  810  237  277  572  276  581
 * (one or two percentage rows); errors go to stderr. Returns undefined totals when imaptest died
 * before printing them (its stdout is block-buffered, so a crash loses it).
 */
export function parseStress(stdout: string, stderr: string): StressResult {
  const lines = stdout.split('\n');
  const at = lines.lastIndexOf('Totals:');
  let columns: string[] = [];
  const totals: Record<string, number> = {};
  if (at >= 0) {
    columns = (lines[at + 1] ?? '').trim().split(/\s+/).filter(Boolean);
    const row = lines.slice(at + 2).find((l) => /^\s*\d+(\s+\d+)*\s*$/.test(l));
    const values = (row ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    columns.forEach((c, i) => { if (values[i] !== undefined) totals[c] = values[i]!; });
  }
  const errLines = stderr.split('\n');
  return {
    columns,
    totals,
    totalCommands: Object.values(totals).reduce((a, n) => a + n, 0),
    errors: errLines.filter((l) => l.startsWith('Error: ') && !l.startsWith('Error: Raw backtrace')),
    fatal: errLines.filter((l) => /^(Panic|Fatal): /.test(l)),
  };
}

/** Error lines with the client number and tag taken out, counted: "12× FETCH failed: NO [EXPUNGEISSUED] ...". */
export function summarizeErrors(errors: string[], max = 12): string[] {
  const counts = new Map<string, number>();
  for (const e of errors) {
    const key = e.replace(/\[\d+\]:/, ':').replace(/: \d+\.\d+ /, ': ').slice(0, 220);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, max).map(([k, n]) => `${n}× ${k}`);
}
