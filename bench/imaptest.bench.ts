/**
 * medgate's IMAP server next to Debian's Dovecot 2.3, in one run, under Dovecot's own load generator:
 * imaptest's stress profile (random LIST/STATUS/SELECT/FETCH/STORE/EXPUNGE/APPEND with its
 * mailbox-state checker) with the same mbox against each, and the LOGIN latency of an account that
 * already has a session open. Both speak TLS only (IMAPS), with the same certificate and key.
 * Two source mailboxes: imaptest's `default.mbox` (ten ~100-byte messages) and the realistic one of
 * bench/lib/realistic-mail.ts (doctors' letters of 5–400 KB with PDF and image attachments,
 * generated from BENCH_SEED), each through the four profiles.
 *
 *   npx tsc -p tsconfig.json && IMAPTEST=/path/to/imaptest npx tsx bench/imaptest.bench.ts
 *
 * imaptest is built outside this repository (docs/imap.md, "Conformance: Dovecot's imaptest").
 * Env: BENCH_SECS (20) per imaptest run, BENCH_MBOXES (`default,realistic`), BENCH_SEED (31) and
 * BENCH_REALISTIC_MESSAGES (60) for the realistic mailbox, BENCH_PROFILES (all four, or a comma
 * list of their names), BENCH_LOGINS (50; 0 skips), BENCH_KDF_EXPONENT (16, production's
 * Argon2 memory: it is what a LOGIN costs), BENCH_LOGIN_CACHE_TTL (config default, 60 s; 0: only while a session is open),
 * BENCH_ROUNDS (1): runs per server and profile, alternating which server goes first (the machine's
 * drift weighs on both; the ratio is of the mean ops/s, each round's ratio is printed in the notes),
 * BENCH_PORT_BASE (medgate on it, Dovecot on +1; default: free ports), DOVECOT (/usr/sbin/dovecot),
 * BENCH_HOLD=1 (start both servers, print their ports, run nothing, stop at SIGINT/SIGTERM),
 * BENCH_CPU_PROF=DIR (medgate under `node --cpu-prof`, a .cpuprofile per thread in DIR when it stops),
 * BENCH_WARMUP_SECS (5; 0 skips): an uncounted clients=10 run against each server first (medgate's
 * JIT, both servers' caches), so that the first profile measured is not the only cold one,
 * BENCH_LATENCY_MESSAGES (20; 0 skips): that many realistic messages, one at a time, through the
 * commands of a long session (APPEND, FETCH from the same and from another session, STORE+EXPUNGE),
 * each command's round trip on both servers: which commands a stress ratio loses on.
 * Targets (issue 31): ops/s ≥ 1× Dovecot with default.mbox and ≥ 0.7× with the realistic mailbox in
 * every profile, 0 errors; medgate LOGIN p50 < 20 ms.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { ImapFlow } from 'imapflow';
import { CLI, prepareGateway, startServe, tempDir, writeGatewayConfig, type ServeProcess } from '../test/helpers/gateway.js';
import { SERVE_NODE_FLAGS } from '../src/runtime/node-flags.js';
import { describeMailbox, generateRealisticMessages, writeRealisticMbox } from './lib/realistic-mail.js';
import { imaptestArgs, locateImaptest, NOT_FOUND_BANNER, parseStress, runImaptest, summarizeErrors, type ImaptestLocation } from '../test/helpers/imaptest.js';
import { freePorts } from '../test/helpers/ports.js';

const SECS = Number(process.env['BENCH_SECS'] ?? '20');
const MBOXES = (process.env['BENCH_MBOXES'] ?? 'default,realistic').split(',').map((s) => s.trim()).filter(Boolean);
const SEED = process.env['BENCH_SEED'] ?? '31';
const REALISTIC_MESSAGES = Number(process.env['BENCH_REALISTIC_MESSAGES'] ?? '60');
const WARMUP_SECS = Number(process.env['BENCH_WARMUP_SECS'] ?? '5');
const LATENCY_MESSAGES = Number(process.env['BENCH_LATENCY_MESSAGES'] ?? '20');
/** imaptest runs per server and profile, alternating which server goes first (the ratio is of the mean ops/s). */
const ROUNDS = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? '1'));
const PROFILES = process.env['BENCH_PROFILES']?.split(',').map((s) => s.trim());
const CPU_PROF_DIR = process.env['BENCH_CPU_PROF'] ? path.resolve(process.env['BENCH_CPU_PROF']) : undefined;
/** Ratio targets by source mailbox (issue 31). */
const TARGET: Record<string, number> = { default: 1, realistic: 0.7 };
const LOGINS = Number(process.env['BENCH_LOGINS'] ?? '50');
const KDF = Number(process.env['BENCH_KDF_EXPONENT'] ?? '16');
const LOGIN_CACHE_TTL = process.env['BENCH_LOGIN_CACHE_TTL'] === undefined ? undefined : Number(process.env['BENCH_LOGIN_CACHE_TTL']);
const DOVECOT = process.env['DOVECOT'] ?? '/usr/sbin/dovecot';
const HOLD = process.env['BENCH_HOLD'] === '1';
const USER = 'paul.demo@cabinet-antony.medgate.test';
const USER2 = 'jl.letest@cabinet-antony.medgate.test';
const PASS = 'imaptest-pass-1';

interface Server {
  name: string;
  port: number;
  ca: string;
  /** The server's process (medgate) or master process (Dovecot): its CPU is read from /proc. */
  pid: number | undefined;
}

const CLK_TCK = 100; // Linux's USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

/** utime, stime, cutime, cstime and ppid of a process, or undefined once it has gone. */
function procStat(pid: number): { ppid: number; own: number; reaped: number } | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state ppid ... utime(14) stime(15) cutime(16) cstime(17), numbered from 1.
    return { ppid: Number(f[1]), own: Number(f[11]) + Number(f[12]), reaped: Number(f[13]) + Number(f[14]) };
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds spent so far by a process and all its descendants: its own, that of children already
 * reaped (cutime/cstime: Dovecot's imap processes that ended), and that of live descendants. Only
 * on Linux; undefined elsewhere. The difference across a run is the server's CPU for that run,
 * however loaded the machine: a figure to read next to the throughput when other work competes.
 */
function treeCpuSeconds(root: number | undefined): number | undefined {
  if (root === undefined || !fs.existsSync('/proc/self/stat')) return undefined;
  const parents = new Map<number, number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = procStat(Number(e));
    if (st) parents.set(Number(e), st.ppid);
  }
  const top = procStat(root);
  if (!top) return undefined;
  let ticks = top.own + top.reaped;
  const seen = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (!seen.has(pid) && seen.has(ppid)) {
        seen.add(pid);
        grew = true;
        const st = procStat(pid);
        if (st) ticks += st.own + st.reaped;
      }
    }
  }
  return ticks / CLK_TCK;
}

/** Children still running: killed on every way out (normal end, exception, Ctrl-C). */
const children = new Set<ChildProcess>();
process.on('exit', () => { for (const c of children) c.kill('SIGTERM'); });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > deadline) reject(new Error(`nothing listens on ${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 100);
      });
    };
    attempt();
  });
}

/**
 * A throw-away Dovecot in `dir`: its own config, base_dir, state and log files, IMAPS only on
 * loopback, the two users in a passwd-file with PLAIN passwords (auth cost ~0: what is compared
 * is the IMAP work), maildir under `dir`. As root its processes drop to Debian's dovecot/dovenull
 * users and the mail to nobody; otherwise everything runs as the current user.
 */
async function startDovecot(dir: string, port: number, certFile: string, keyFile: string): Promise<{ child: ChildProcess; log: string; stop(): Promise<void> }> {
  const root = process.getuid?.() === 0;
  const me = os.userInfo();
  const mail = path.join(dir, 'mail');
  for (const d of ['run', 'state', 'mail']) fs.mkdirSync(path.join(dir, d), { recursive: true });
  fs.copyFileSync(certFile, path.join(dir, 'cert.pem'));
  fs.copyFileSync(keyFile, path.join(dir, 'key.pem'));
  fs.chmodSync(path.join(dir, 'key.pem'), 0o600);
  fs.writeFileSync(path.join(dir, 'passwd'), `${USER}:{PLAIN}${PASS}\n${USER2}:{PLAIN}${PASS}\n`);
  let mailUid = me.uid;
  let mailGid = me.gid;
  if (root) {
    // Mail processes must not run as root (Dovecot refuses uid 0 below first_valid_uid): nobody.
    mailUid = 65534;
    mailGid = 65534;
    fs.chmodSync(dir, 0o755);
    fs.chownSync(mail, mailUid, mailGid);
  }
  const log = path.join(dir, 'dovecot.log');
  const dh = '/usr/share/dovecot/dh.pem';
  const conf = [
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `log_path = ${log}`,
    `info_log_path = ${log}`,
    'protocols = imap',
    'listen = 127.0.0.1',
    'ssl = required',
    `ssl_cert = <${dir}/cert.pem`,
    `ssl_key = <${dir}/key.pem`,
    ...(fs.existsSync(dh) ? [`ssl_dh = <${dh}`] : []),
    'auth_mechanisms = plain login',
    `default_internal_user = ${root ? 'dovecot' : me.username}`,
    `default_login_user = ${root ? 'dovenull' : me.username}`,
    `first_valid_uid = ${Math.min(mailUid, 1)}`,
    // imaptest's clients all log in as one user from one address; the default is 10.
    'mail_max_userip_connections = 1000',
    `passdb {\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u ${dir}/passwd\n}`,
    `userdb {\n  driver = static\n  args = uid=${mailUid} gid=${mailGid} home=${mail}/%u\n}`,
    'mail_location = maildir:~/Maildir',
    `service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n  inet_listener imaps {\n    port = ${port}\n    ssl = yes\n  }\n}`,
    'service doveadm {\n  inet_listener {\n    port = 0\n  }\n}',
    '',
  ].join('\n');
  const confFile = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(confFile, conf);
  const child = spawn(DOVECOT, ['-F', '-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out: string[] = [];
  child.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => { children.delete(child); r(); }));
  try {
    await Promise.race([waitForPort(port, 15_000), exited.then(() => { throw new Error('dovecot exited'); })]);
  } catch (err) {
    child.kill('SIGTERM');
    const logText = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '';
    throw new Error(`Dovecot did not start (${(err as Error).message}):\n${out.join('')}\n${logText}`);
  }
  return { child, log, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

function client(s: Server): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port: s.port, secure: true, logger: false, auth: { user: USER, pass: PASS }, tls: { ca: s.ca, servername: 'localhost' } });
}

/** Reads CRLF lines from a socket until one matches. */
function lineReader(sock: tls.TLSSocket): (match: (line: string) => boolean) => Promise<string> {
  let buf = '';
  let waiter: { match: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void } | undefined;
  const pump = (): void => {
    let i: number;
    while (waiter && (i = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (waiter.match(line)) { const w = waiter; waiter = undefined; w.resolve(line); }
    }
  };
  sock.on('data', (d: Buffer) => { buf += d.toString('latin1'); pump(); });
  sock.on('error', (e) => waiter?.reject(e));
  sock.on('close', () => waiter?.reject(new Error('connection closed')));
  return (match) => new Promise((resolve, reject) => { waiter = { match, resolve, reject }; pump(); });
}

/** One raw TLS session: the LOGIN round trip alone, and connect+TLS+greeting+LOGIN. */
async function timeLogin(s: Server): Promise<{ login: number; total: number }> {
  const t0 = performance.now();
  const sock = tls.connect({ host: '127.0.0.1', port: s.port, ca: s.ca, servername: 'localhost' });
  const next = lineReader(sock);
  try {
    await next((l) => l.startsWith('* OK'));
    const t1 = performance.now();
    sock.write(`a1 LOGIN "${USER}" "${PASS}"\r\n`);
    const reply = await next((l) => l.startsWith('a1 '));
    const t2 = performance.now();
    if (!reply.startsWith('a1 OK')) throw new Error(`${s.name} LOGIN: ${reply}`);
    sock.write('a2 LOGOUT\r\n');
    await next((l) => l.startsWith('a2 '));
    return { login: t2 - t1, total: t2 - t0 };
  } finally {
    sock.destroy();
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** LOGIN latency while another session of the same account stays logged in and selected. */
async function loginLatency(s: Server): Promise<{ p50: number; p95: number; totalP50: number }> {
  const keeper = client(s);
  await keeper.connect();
  await keeper.mailboxOpen('INBOX');
  try {
    await timeLogin(s); // uncounted: first TLS session, caches
    const logins: number[] = [];
    const totals: number[] = [];
    for (let i = 0; i < LOGINS; i++) {
      const t = await timeLogin(s);
      logins.push(t.login);
      totals.push(t.total);
    }
    logins.sort((a, b) => a - b);
    totals.sort((a, b) => a - b);
    return { p50: percentile(logins, 50), p95: percentile(logins, 95), totalP50: percentile(totals, 50) };
  } finally {
    await keeper.logout();
  }
}

interface Profile {
  name: string;
  args: string[];
}

interface StressRun {
  ops: number | undefined;
  /** The server's CPU milliseconds per command completed (all its threads or processes). */
  cpuPerOp: number | undefined;
  errors: number;
  note: string;
  /** The Totals row, "Appe 276 Fetc 572 ...": which commands the run got through. */
  totals: string;
}

/**
 * Runs of one profile on one server as one: mean ops/s and CPU per op (the runs last equally long),
 * errors added up, notes and the first run's Totals row kept.
 */
function combineRuns(runs: StressRun[]): StressRun {
  const mean = (v: Array<number | undefined>): number | undefined => (v.every((x) => x !== undefined) ? (v as number[]).reduce((a, b) => a + b, 0) / v.length : undefined);
  return {
    ops: mean(runs.map((r) => r.ops)),
    cpuPerOp: mean(runs.map((r) => r.cpuPerOp)),
    errors: runs.reduce((n, r) => n + r.errors, 0),
    note: [...new Set(runs.map((r) => r.note).filter(Boolean))].join('; '),
    totals: runs[0]!.totals,
  };
}

async function stress(loc: ImaptestLocation, s: Server, p: Profile, mbox: string, box: string, secs = SECS): Promise<StressRun> {
  const cpu0 = treeCpuSeconds(s.pid);
  const run = await runImaptest(loc, imaptestArgs({ host: '127.0.0.1', port: s.port, user: USER, pass: PASS }, [
    `mbox=${mbox}`, `box=${box}`, `secs=${secs}`, ...p.args,
  ]), (secs + 60) * 1000);
  const cpu1 = treeCpuSeconds(s.pid);
  const r = parseStress(run.stdout, run.stderr);
  const errors = r.errors.length + r.fatal.length;
  const notes: string[] = [];
  if (run.code !== 0) notes.push(`exit ${run.code ?? run.signal}`);
  if (r.fatal.length) notes.push(`imaptest gave up (${r.fatal[0]!.slice(0, 40)}…)`);
  if (r.totalCommands === 0) notes.push('no Totals table');
  // ops/s: the commands the Totals row counts over the whole imaptest run (start-up and wind-down included, alike for both).
  const ops = r.totalCommands ? r.totalCommands / (run.ms / 1000) : undefined;
  if (errors) {
    console.log(`  ${s.name} ${p.name}: ${errors} errors, most frequent:`);
    for (const l of summarizeErrors([...r.fatal, ...r.errors], 5)) console.log(`    ${l.slice(0, 200)}`);
  }
  const cpuPerOp = cpu0 !== undefined && cpu1 !== undefined && r.totalCommands ? ((cpu1 - cpu0) * 1000) / r.totalCommands : undefined;
  return { ops, cpuPerOp, errors, note: notes.join('; '), totals: r.columns.map((c) => `${c} ${r.totals[c] ?? '?'}`).join(' ') };
}

/**
 * One command at a time, one client per session, no pipelining: the round trip of each command a
 * long session (Thunderbird, Outlook, imaptest's logout=0) sends for a realistic message, so that a
 * ratio lost under stress can be traced to commands. Session A appends and reads back; session B,
 * open on the same mailbox, reads what A appended (the other device, or imaptest's other clients).
 */
/** One of imaptest's default.mbox messages, in size and shape. */
const SMALL_MESSAGE = Buffer.from('From: user@domain.org\r\nSubject: hello\r\nMessage-ID: <small@domain.org>\r\n\r\nHello world, a short one.\r\n');

async function commandLatency(s: Server, messages: Buffer[]): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>();
  const time = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await fn();
    times.set(name, [...(times.get(name) ?? []), performance.now() - t0]);
    return r;
  };
  const a = client(s);
  const b = client(s);
  await a.connect();
  await b.connect();
  const box = 'bench-latency';
  try {
    await a.mailboxCreate(box);
    await a.mailboxOpen(box);
    await b.mailboxOpen(box);
    for (const m of messages) {
      const appended = await time('APPEND', () => a.append(box, m, ['\\Seen']));
      const uid = appended && typeof appended === 'object' ? appended.uid : undefined;
      if (!uid) throw new Error(`${s.name}: APPEND gave no APPENDUID`);
      await time('UID FETCH BODY.PEEK[] (same session)', () => a.fetchOne(String(uid), { source: true }, { uid: true }));
      await time('UID FETCH BODY.PEEK[] (same session, again)', () => a.fetchOne(String(uid), { source: true }, { uid: true }));
      await b.noop();
      await time('UID FETCH ENVELOPE BODYSTRUCTURE (other session)', () => b.fetchOne(String(uid), { envelope: true, bodyStructure: true, flags: true }, { uid: true }));
      await time('UID FETCH BODY.PEEK[HEADER.FIELDS ...] (other session)', () => b.fetchOne(String(uid), { headers: ['from', 'to', 'subject', 'date', 'message-id', 'content-type'] }, { uid: true }));
      await time('UID FETCH BODY.PEEK[] (other session)', () => b.fetchOne(String(uid), { source: true }, { uid: true }));
      await time('UID STORE +FLAGS \\Flagged', () => a.messageFlagsAdd(String(uid), ['\\Flagged'], { uid: true }));
      await time('UID STORE \\Deleted + UID EXPUNGE', () => a.messageDelete(String(uid), { uid: true }));
      await b.noop();
      // What imaptest's stress mixes in besides: its messages of ~100 bytes, LIST, STATUS, NOOP.
      const small = await time('APPEND (100-byte message)', () => a.append(box, SMALL_MESSAGE, []));
      await time('LIST "" "*"', () => a.list());
      await time('STATUS (MESSAGES UIDNEXT UNSEEN)', () => b.status(box, { messages: true, uidNext: true, unseen: true }));
      await time('NOOP', () => a.noop());
      if (small && typeof small === 'object') await a.messageDelete(String(small.uid), { uid: true });
    }
  } finally {
    await a.logout().catch(() => {});
    await b.logout().catch(() => {});
  }
  return times;
}

/** The machine, for the figures to be read against: cores, model, memory, load, Node, Dovecot. */
function dovecotVersion(): string {
  try {
    return execFileSync(DOVECOT, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return '(version unknown)';
  }
}

function machine(): string {
  const cpus = os.cpus();
  const load = os.loadavg().map((n) => n.toFixed(2)).join(' ');
  return `${cpus.length} × ${cpus[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GB, load average ${load}, Node ${process.version}, ${os.type()} ${os.release()}`;
}

/** Peak and current RSS of a process (VmHWM, VmRSS), in MB. */
function rss(pid: number | undefined): string {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return `peak ${(kb('VmHWM') / 1024).toFixed(0)} MB, now ${(kb('VmRSS') / 1024).toFixed(0)} MB`;
  } catch {
    return 'n/a';
  }
}

async function main(): Promise<void> {
  const found = locateImaptest();
  if (!found.ok) {
    console.error(`${NOT_FOUND_BANNER} (${found.reason})`);
    process.exit(2);
  }
  const loc = found.location;
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} missing: run \`npx tsc -p tsconfig.json\` first`);
  if (!fs.existsSync(DOVECOT)) throw new Error(`${DOVECOT} missing (Debian: apt-get install dovecot-imapd), or set DOVECOT`);
  const base = process.env['BENCH_PORT_BASE'];
  const [mgPort, dvPort] = base ? [Number(base), Number(base) + 1] : await freePorts(2);
  const dir = tempDir('medgate-bench-imaptest-');
  const dovecotDir = tempDir('medgate-bench-dovecot-');
  let gw: ServeProcess | undefined;
  let dovecot: Awaited<ReturnType<typeof startDovecot>> | undefined;
  try {
    const configFile = writeGatewayConfig(path.join(dir), {
      ports: { imapTls: mgPort },
      extra: { security: { kdfMemoryExponent: KDF, minPasswordLength: 12, ...(LOGIN_CACHE_TTL !== undefined ? { loginCache: { ttlSeconds: LOGIN_CACHE_TTL } } : {}) } },
    });
    await prepareGateway(configFile, [
      { address: USER, kind: 'person', rpps: '10100000017', password: PASS },
      { address: USER2, kind: 'person', rpps: '10100000041', password: PASS },
    ]);
    gw = await startServe(configFile, 90_000, { file: process.execPath, args: [...SERVE_NODE_FLAGS, ...(CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []), CLI] });
    children.add(gw.child);
    const ca = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
    // Dovecot presents medgate's own gateway certificate: same key type and size, same TLS cost.
    // Its own temp dir: as root, Dovecot's auth and mail processes (other users) must traverse it.
    dovecot = await startDovecot(dovecotDir, dvPort!, path.join(dir, 'data', 'tls', 'gateway.crt.pem'), path.join(dir, 'data', 'tls', 'gateway.key.pem'));
    const servers: Server[] = [{ name: 'medgate', port: gw.ports['imapTls']!, ca, pid: gw.child.pid }, { name: 'Dovecot', port: dvPort!, ca, pid: dovecot.child.pid }];
    if (HOLD) {
      // Both servers stay up for a client of one's own (a rawlog, a latency probe) until a signal.
      const caFile = path.join(dir, 'hold-ca.pem');
      fs.writeFileSync(caFile, ca);
      for (const s of servers) { const c = client(s); await c.connect(); await c.mailboxCreate('hold'); await c.logout(); }
      console.log(`holding: medgate on ${servers[0]!.port}, Dovecot on ${servers[1]!.port}, user ${USER} / ${PASS}, mailbox "hold", CA ${caFile}; SIGINT or SIGTERM ends`);
      await new Promise<void>((resolve) => { process.once('SIGINT', () => resolve()); process.once('SIGTERM', () => resolve()); });
      return;
    }
    const profiles: Profile[] = [
      { name: 'clients=10', args: ['clients=10'] },
      { name: 'clients=10 logout=0', args: ['clients=10', 'logout=0'] },
      { name: 'clients=1', args: ['clients=1'] },
      { name: 'clients=1 logout=0', args: ['clients=1', 'logout=0'] },
    ].filter((p) => !PROFILES || PROFILES.includes(p.name));
    const sources: Array<{ name: string; mbox: string; about: string }> = [];
    for (const name of MBOXES) {
      if (name === 'default') {
        sources.push({ name, mbox: path.join(loc.testsDir, 'default.mbox'), about: `imaptest's default.mbox (${fs.statSync(path.join(loc.testsDir, 'default.mbox')).size} bytes)` });
      } else if (name === 'realistic') {
        const mbox = path.join(dir, 'realistic.mbox');
        const messages = await writeRealisticMbox(mbox, { seed: SEED, messages: REALISTIC_MESSAGES });
        sources.push({ name, mbox, about: `realistic, seed ${SEED}: ${describeMailbox(messages)}` });
      } else {
        throw new Error(`BENCH_MBOXES: unknown mailbox ${name} (default, realistic)`);
      }
    }
    const boxOf = (src: string, p: Profile): string => `bench-${src}-${p.name.replace(/[^a-z0-9]+/gi, '-')}`;
    // The state checker works in mailboxes that exist and that nothing else touches: one per run.
    for (const s of servers) {
      const c = client(s);
      await c.connect();
      for (const src of sources) for (const p of profiles) await c.mailboxCreate(boxOf(src.name, p));
      await c.logout();
    }
    console.log(`imaptest stress, ${SECS} s per run${ROUNDS > 1 ? `, ${ROUNDS} rounds alternating which server goes first` : ''}, over TLS; medgate KDF exponent ${KDF}, login cache TTL ${LOGIN_CACHE_TTL ?? 'default (60 s)'}${CPU_PROF_DIR ? `, CPU profile in ${CPU_PROF_DIR}` : ''}; Dovecot ${DOVECOT} ${dovecotVersion()} (PLAIN passwd-file, stock service settings)`);
    console.log(`machine: ${machine()}`);
    if (WARMUP_SECS > 0 && sources.length) {
      const warm: Profile = { name: 'warm-up', args: ['clients=10'] };
      for (const s of servers) {
        const c = client(s);
        await c.connect();
        await c.mailboxCreate('bench-warm-up');
        await c.logout();
        for (const src of sources) await stress(loc, s, warm, src.mbox, 'bench-warm-up', WARMUP_SECS);
      }
    }
    const summary: string[][] = [];
    for (const src of sources) {
      console.log(`\nmailbox ${src.about}`);
      const rows: string[][] = [];
      for (const p of profiles) {
        const box = boxOf(src.name, p);
        // Rounds alternate which server goes first (m d, d m, …): a machine that drifts faster or
        // slower during the profile weighs on both alike.
        const ms: StressRun[] = [];
        const ds: StressRun[] = [];
        for (let round = 0; round < ROUNDS; round++) {
          if (round % 2 === 0) { ms.push(await stress(loc, servers[0]!, p, src.mbox, box)); ds.push(await stress(loc, servers[1]!, p, src.mbox, box)); }
          else { ds.push(await stress(loc, servers[1]!, p, src.mbox, box)); ms.push(await stress(loc, servers[0]!, p, src.mbox, box)); }
        }
        const m = combineRuns(ms);
        const d = combineRuns(ds);
        const ratio = m.ops && d.ops ? m.ops / d.ops : undefined;
        if (ROUNDS > 1) m.note = [m.note, `rounds ${ms.map((r, i) => (r.ops && ds[i]!.ops ? `${(r.ops / ds[i]!.ops).toFixed(2)}×` : 'n/a')).join(' ')}`].filter(Boolean).join('; ');
        const load = os.loadavg()[0]!.toFixed(1);
        const cpu = (r: StressRun): string => r.cpuPerOp?.toFixed(2) ?? 'n/a';
        const cpuRatio = m.cpuPerOp && d.cpuPerOp ? `${(m.cpuPerOp / d.cpuPerOp).toFixed(2)}×` : 'n/a';
        rows.push([p.name, m.ops?.toFixed(0) ?? 'n/a', d.ops?.toFixed(0) ?? 'n/a', ratio ? `${ratio.toFixed(2)}×` : 'n/a', String(m.errors), String(d.errors), cpu(m), cpu(d), cpuRatio, load, [m.note && `medgate: ${m.note}`, d.note && `Dovecot: ${d.note}`].filter(Boolean).join('; ')]);
        summary.push([src.name, p.name, ratio ? `${ratio.toFixed(2)}×` : 'n/a', ratio !== undefined && ratio >= TARGET[src.name]! && m.errors === 0 ? 'met' : 'NOT met', `(CPU per op ${cpuRatio} Dovecot's)`]);
        console.log(`  ${p.name}: medgate  ${m.totals}\n  ${' '.repeat(p.name.length)}  Dovecot  ${d.totals}`);
      }
      const head = ['profile', 'medgate ops/s', 'Dovecot ops/s', `ratio (≥ ${TARGET[src.name]}×)`, 'medgate errors', 'Dovecot errors', 'medgate CPU ms/op', 'Dovecot CPU ms/op', 'CPU/op ratio', 'load 1 min', 'notes'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i]!)).join(' | ');
      console.log(`\n${fmt(head)}\n${widths.map((w) => '-'.repeat(w)).join('-|-')}\n${rows.map(fmt).join('\n')}`);
      console.log(`medgate RSS after this mailbox: ${rss(gw.child.pid)}\n`);
    }
    if (LATENCY_MESSAGES > 0) {
      const realistic = (await generateRealisticMessages({ seed: SEED, messages: LATENCY_MESSAGES })).map((m) => Buffer.from(m.bytes.toString('latin1').replace(/\n/g, '\r\n'), 'latin1'));
      const kb = realistic.reduce((n, m) => n + m.length, 0) / realistic.length / 1024;
      console.log(`one command at a time, ${realistic.length} realistic messages (seed ${SEED}, mean ${kb.toFixed(0)} KB), imapflow over TLS; mean round trip in ms (p50 in brackets):`);
      const [m, d] = [await commandLatency(servers[0]!, realistic), await commandLatency(servers[1]!, realistic)];
      const mean = (v: number[]): number => v.reduce((x, y) => x + y, 0) / v.length;
      const p50 = (v: number[]): number => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
      const width = Math.max(...[...m.keys()].map((k) => k.length));
      console.log(`  ${'command'.padEnd(width)}  ${'medgate'.padStart(15)}  ${'Dovecot'.padStart(15)}  medgate ÷ Dovecot`);
      for (const [k, v] of m) {
        const w = d.get(k) ?? [];
        console.log(`  ${k.padEnd(width)}  ${`${mean(v).toFixed(2)} (${p50(v).toFixed(2)})`.padStart(15)}  ${`${mean(w).toFixed(2)} (${p50(w).toFixed(2)})`.padStart(15)}  ${(mean(v) / mean(w)).toFixed(2)}×`);
      }
      console.log(`  load average now ${os.loadavg().map((n) => n.toFixed(2)).join(' ')}\n`);
    }

    console.log('targets (issue 31: ≥ 1× Dovecot with default.mbox, ≥ 0.7× with realistic mail, 0 medgate errors):');
    for (const r of summary) console.log(`  ${r[0]!.padEnd(9)} ${r[1]!.padEnd(19)} ${r[2]!.padStart(6)}  ${r[3]!.padEnd(7)}  ${r[4]}`);
    console.log(`machine at the end: ${machine()}\n`);

    if (LOGINS > 0) {
      console.log(`LOGIN latency with a second session of the same account open (${LOGINS} logins, raw TLS client, LOGIN round trip; connect+TLS+LOGIN in brackets):`);
      for (const s of servers) {
        const l = await loginLatency(s);
        console.log(`  ${s.name.padEnd(8)} p50 ${l.p50.toFixed(1)} ms, p95 ${l.p95.toFixed(1)} ms  (p50 ${l.totalP50.toFixed(1)} ms)${s.name === 'medgate' ? `  target p50 < 20 ms: ${l.p50 < 20 ? 'met' : 'NOT met'}` : ''}`);
      }
    }
  } finally {
    await dovecot?.stop().catch(() => {});
    if (gw) {
      await gw.stop().catch(() => {});
      children.delete(gw.child);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(dovecotDir, { recursive: true, force: true });
  }
}

await main();
