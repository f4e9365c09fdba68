/**
 * Memory of a gateway (issue 31): idle RSS of `medgate serve` as `npm start` runs it, and the peak
 * while one 25 MB message is submitted (gateway A), relayed (A → B) and fetched by IMAP (B), with
 * the threads of each process. Baselines measured in the same run:
 *
 *  - a bare node process (same flags) that has loaded the gateway's modules (dist/server.js) and
 *    does nothing: what the code costs before any work;
 *  - gateway A in the previous configuration, a fixed pool of sealing threads (one per core, all
 *    started at once: `workers.sealing.minThreads` = `maxThreads`), against the default (threads
 *    start with the work and end after `idleSeconds`).
 *
 * Per thread: Linux gives RSS per process, not per thread (threads share one address space). The
 * bench reads the thread list (/proc/PID/task/N/comm) and attributes memory by difference: a
 * sealing thread = (fixed pool idle − default idle) ÷ threads; the main thread's own = default idle
 * − bare process. V8's compiler/GC helpers (`V8Worker`) and libuv's pool (`libuv-worker`) are
 * listed; their memory is their stacks and transient zones.
 *
 * The 25 MB peak by thread: each gateway's /metrics is read every 100 ms during each phase
 * (`medgate_thread_memory_bytes`: the main thread's V8 heap, its zones — what the compiler threads
 * fill — and its buffers outside the heap; the sealing threads' heaps and buffers), with RSS; what
 * RSS holds beyond them is native (code, TLS, SQLite, the allocator's arenas). The FETCH is timed
 * with a raw IMAP client (test/helpers/raw-imap.ts): first and last literal byte (target: the first
 * within 200 ms). `MALLOC_ARENA_MAX=2 npx tsx bench/memory.bench.ts` shows what glibc's per-thread
 * arenas hold (the gateways inherit the environment).
 *
 * The 25 MB message goes through twice, each time on freshly started gateways: with the logins
 * inside the measured window (SMTP AUTH on A, IMAP LOGIN on B, an Argon2 unwrap of 64 MiB each at
 * production cost: the stricter figure), then with the doctors already logged in (`pass`); the
 * summary prints both, labelled.
 *
 * Needs the build: `npx tsc -p tsconfig.json && npx tsx bench/memory.bench.ts`
 * (`BENCH_SETTLE_SECONDS`, default 10: idle time before reading idle RSS; `BENCH_KDF_MEMORY_EXPONENT`,
 * default 16 as in production). About 4 minutes.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import YAML from 'yaml';
import { SERVE_NODE_FLAGS } from '../src/runtime/node-flags.js';
import { ROOT } from '../test/helpers/gateway.js';
import { CLAIRE, PAUL, PASSWORD, caPem, mailboxBlobIds, serve, setupTwoGateways, waitFor, type GatewayHandle, type TwoGateways } from '../test/smtp/relay-fixture.js';
import { buildMessage } from './lib/smtp-load.js';
import { RawImap } from '../test/helpers/raw-imap.js';

const SETTLE_MS = Number(process.env.BENCH_SETTLE_SECONDS ?? 10) * 1000;
const KDF_MEMORY_EXPONENT = Number(process.env.BENCH_KDF_MEMORY_EXPONENT ?? 16);
const CORES = os.availableParallelism();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample { rssMb: number; anonMb: number; threads: string[] }

function sample(pid: number): Sample {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  const threads: string[] = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try { threads.push(fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim()); } catch { /* ended */ }
  }
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024, threads };
}

function threadList(threads: string[]): string {
  const counts = new Map<string, number>();
  for (const t of threads) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].map(([n, c]) => (c > 1 ? `${n}×${c}` : n)).join(', ');
}

const sealing = (threads: string[]): number => threads.filter((t) => t === 'WorkerThread').length;

/** Samples a process every 50 ms: the highest RSS and the most threads seen. */
function watch(pid: number): { stop(): { peakMb: number; maxSealing: number; atPeak: string[] } } {
  let peak: Sample = sample(pid);
  let maxSealing = sealing(peak.threads);
  const timer = setInterval(() => {
    try {
      const s = sample(pid);
      if (s.rssMb > peak.rssMb) peak = s;
      maxSealing = Math.max(maxSealing, sealing(s.threads));
    } catch { /* exited */ }
  }, 50);
  return { stop: () => { clearInterval(timer); return { peakMb: peak.rssMb, maxSealing, atPeak: peak.threads }; } };
}

/** A node process with the gateway's modules loaded and nothing else: the floor. */
async function bareNode(): Promise<Sample> {
  const code = `await import(${JSON.stringify(path.join(ROOT, 'dist', 'server.js'))}); console.log('ready'); setInterval(() => {}, 1 << 30);`;
  const child = spawn(process.execPath, [...SERVE_NODE_FLAGS, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('ready')) resolve(); });
    child.once('exit', (c) => reject(new Error(`bare node exited ${c}`)));
  });
  await sleep(SETTLE_MS);
  const s = sample(child.pid!);
  child.kill('SIGKILL');
  return s;
}

function setConfig(g: GatewayHandle, change: (c: Record<string, unknown>) => void): void {
  const c = YAML.parse(fs.readFileSync(g.config, 'utf8')) as Record<string, unknown>;
  change(c);
  fs.writeFileSync(g.config, YAML.stringify(c));
}

async function idleOf(g: GatewayHandle): Promise<Sample> {
  await serve(g);
  await sleep(SETTLE_MS);
  return sample(g.serve!.child.pid!);
}

const mb = (v: number) => `${v.toFixed(0)} MB`;

type ThreadPeaks = Map<string, number>;

/** Polls a gateway's /metrics every 100 ms: the highest value of each thread's memory, and of RSS. */
function watchThreads(port: number, pid: number): { stop(): Promise<ThreadPeaks> } {
  const peaks: ThreadPeaks = new Map();
  let stopped = false;
  const rssTimer = setInterval(() => {
    try { peaks.set('rss', Math.max(peaks.get('rss') ?? 0, sample(pid).rssMb)); } catch { /* exited */ }
  }, 50);
  const poll = (async () => {
    while (!stopped) {
      try {
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        for (const m of text.matchAll(/^medgate_thread_memory_bytes\{thread="(\w+)",kind="(\w+)"\} (\d+)/gm)) {
          const k = `${m[1]} ${m[2]}`;
          peaks.set(k, Math.max(peaks.get(k) ?? 0, Number(m[3]) / 2 ** 20));
        }
      } catch { /* between restarts */ }
      await sleep(100);
    }
  })();
  return { stop: async () => { stopped = true; clearInterval(rssTimer); await poll; return peaks; } };
}

function threadPeaks(p: ThreadPeaks): string {
  const g = (k: string) => p.get(k) ?? 0;
  const v8Total = g('main heap_total') + g('main external') + g('main zones') + g('sealing heap_total') + g('sealing external') + g('sealing zones');
  return `RSS peak ${mb(g('rss'))}: main heap ${mb(g('main heap_used'))} used of ${mb(g('main heap_total'))}, buffers ${mb(g('main external'))}, compiler/zones ${mb(g('main zones'))}; ` +
    `sealing threads heap ${mb(g('sealing heap_used'))} used of ${mb(g('sealing heap_total'))}, buffers ${mb(g('sealing external'))}; ` +
    `the rest, native (code, TLS, SQLite, allocator) ≥ ${mb(Math.max(0, g('rss') - v8Total))}`;
}

/**
 * One 25 MB message submitted to A, relayed to B, fetched from B; peaks of A and B above the idle
 * figures given. `loggedIn`: the sender's SMTP AUTH and the reader's IMAP LOGIN (each an Argon2
 * unwrap of 64 MiB at production cost, a security parameter) happen before the measured window:
 * an SMTP AUTH whose unlocked key the login cache keeps (security.loginCache) and an IMAP session
 * of the reader that stays open (it holds her key), as with a doctor whose client is already
 * connected. Otherwise both happen inside it.
 */
async function pass(t: TwoGateways, n: number, idleA: number, idleB: number, loggedIn: boolean): Promise<{ size: number; a: number; b: number }> {
  const ca = caPem(t);
  const big = buildMessage(n, [CLAIRE], 'x'.repeat(20 * 1024), 18 * 1024 * 1024);
  const size = Buffer.byteLength(big) / 2 ** 20;
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: t.a.serve!.ports.smtpSubmission!, secure: false, requireTLS: true, tls: { ca, servername: 'localhost' }, auth: { user: PAUL, pass: PASSWORD } });
  let session: ImapFlow | undefined;
  if (loggedIn) {
    await transport.verify(); // AUTH: Argon2 now, the key then in the login cache
    session = new ImapFlow({ host: '127.0.0.1', port: t.b.serve!.ports.imapTls!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: CLAIRE, pass: PASSWORD } });
    await session.connect();
    await sleep(2000); // Argon2's memory returned, the threads quiet again
  }
  const before = (await mailboxBlobIds(t.b, CLAIRE)).length;
  // At rest, just before: what each thread holds already (the peaks below are read against it).
  const restA = watchThreads(t.a.serve!.ports.http!, t.a.serve!.child.pid!);
  const restB = watchThreads(t.b.serve!.ports.http!, t.b.serve!.child.pid!);
  await sleep(400);
  const phases: Array<[string, ThreadPeaks, ThreadPeaks]> = [['at rest, just before the message', await restA.stop(), await restB.stop()]];
  const wa = watch(t.a.serve!.child.pid!);
  const wb = watch(t.b.serve!.child.pid!);
  let ta = watchThreads(t.a.serve!.ports.http!, t.a.serve!.child.pid!);
  let tb = watchThreads(t.b.serve!.ports.http!, t.b.serve!.child.pid!);
  const t0 = performance.now();
  await transport.sendMail({ envelope: { from: PAUL, to: [CLAIRE] }, raw: big });
  transport.close();
  const submitted = performance.now();
  phases.push([loggedIn ? 'submission (A seals; AUTH from the login cache)' : 'submission (SMTP AUTH with Argon2, A seals)', await ta.stop(), await tb.stop()]);
  ta = watchThreads(t.a.serve!.ports.http!, t.a.serve!.child.pid!);
  tb = watchThreads(t.b.serve!.ports.http!, t.b.serve!.child.pid!);
  // The store's own API (SQLite or PostgreSQL), as the relay tests read it.
  const inbox = async (): Promise<number> => (await mailboxBlobIds(t.b, CLAIRE)).length;
  await waitFor(async () => (await inbox()) > before, 300_000, 'the 25 MB message to reach B');
  const relayed = performance.now();
  phases.push(['relay (A sends, B receives and files)', await ta.stop(), await tb.stop()]);
  ta = watchThreads(t.a.serve!.ports.http!, t.a.serve!.child.pid!);
  tb = watchThreads(t.b.serve!.ports.http!, t.b.serve!.child.pid!);
  // The FETCH timed by a raw client: LOGIN lists the INBOX (the message's first opening, a
  // streamed pass that counts its bytes), then the literal is timed from the command.
  const raw = await RawImap.connect(t.b.serve!.ports.imapTls!, ca);
  const tLogin = performance.now();
  await raw.command('l', `LOGIN ${CLAIRE} "${PASSWORD}"`);
  const loggedInAt = performance.now();
  await raw.command('s', 'SELECT INBOX');
  const selected = performance.now();
  phases.push([loggedIn ? 'IMAP LOGIN (key held by the open session) + SELECT (first opening: streamed)' : 'IMAP LOGIN (Argon2, the INBOX\'s first opening: streamed) + SELECT', await ta.stop(), await tb.stop()]);
  ta = watchThreads(t.a.serve!.ports.http!, t.a.serve!.child.pid!);
  tb = watchThreads(t.b.serve!.ports.http!, t.b.serve!.child.pid!);
  const sizes = await raw.command('u', 'UID FETCH 1:* (UID RFC822.SIZE)');
  const uids = sizes.filter((l) => l.includes('RFC822.SIZE')).map((l) => Number(/UID (\d+)/.exec(l)?.[1] ?? 0));
  const uid = Math.max(1, ...uids);
  const timed = await raw.fetchBody(uid, 0);
  raw.end();
  phases.push(['raw FETCH BODY.PEEK[] (streamed)', await ta.stop(), await tb.stop()]);
  ta = watchThreads(t.a.serve!.ports.http!, t.a.serve!.child.pid!);
  tb = watchThreads(t.b.serve!.ports.http!, t.b.serve!.child.pid!);
  const imap = new ImapFlow({ host: '127.0.0.1', port: t.b.serve!.ports.imapTls!, secure: true, logger: false, tls: { ca, servername: 'localhost' }, auth: { user: CLAIRE, pass: PASSWORD } });
  await imap.connect();
  let fetchedBytes = 0;
  const lock = await imap.getMailboxLock('INBOX');
  try {
    const m = await imap.fetchOne('*', { source: true });
    fetchedBytes = m ? m.source!.length : 0;
  } finally {
    lock.release();
  }
  await imap.logout();
  const fetched = performance.now();
  phases.push(['imapflow FETCH (source)', await ta.stop(), await tb.stop()]);
  const pa = wa.stop();
  const pb = wb.stop();
  if (session) await session.logout();
  console.log('');
  console.log(`pass ${n}: ${loggedIn ? 'SESSIONS ALREADY LOGGED IN (the sender\'s SMTP AUTH and the reader\'s IMAP LOGIN, Argon2 64 MiB each, before the window), on restarted gateways' : 'LOGINS INSIDE THE WINDOW (cold SMTP AUTH on A, cold IMAP LOGIN on B: Argon2 64 MiB each, production cost)'}; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`25 MB message (${size.toFixed(1)} MB): submitted in ${((submitted - t0) / 1000).toFixed(1)} s, relayed ${((relayed - submitted) / 1000).toFixed(1)} s later, fetched (${(fetchedBytes / 2 ** 20).toFixed(1)} MB) in ${((fetched - relayed) / 1000).toFixed(1)} s`);
  const line = (name: string, idleMb: number, p: { peakMb: number; maxSealing: number; atPeak: string[] }) =>
    `  ${name.padEnd(36)} idle ${mb(idleMb).padStart(7)}  peak ${mb(p.peakMb).padStart(7)}  (+${mb(p.peakMb - idleMb)} = ${((p.peakMb - idleMb) / size).toFixed(2)}× the message; target ≤ 2×)  sealing threads at most ${p.maxSealing}; at the peak: ${threadList(p.atPeak)}`;
  console.log(line('gateway A (submission, seal, relay out)', idleA, pa));
  console.log(line('gateway B (relay in, IMAP fetch)', idleB, pb));
  console.log(`  streamed FETCH (raw client): ${(timed.size / 2 ** 20).toFixed(1)} MB literal, first byte after ${timed.first.toFixed(0)} ms (target ≤ 200 ms: ${timed.first <= 200 ? 'met' : 'NOT met'}), last after ${timed.last.toFixed(0)} ms; before it, LOGIN (${loggedIn ? 'key held by the open session' : 'Argon2 at production cost'}, and the INBOX's first opening) ${(loggedInAt - tLogin).toFixed(0)} ms, SELECT ${(selected - loggedInAt).toFixed(0)} ms`);
  console.log('');
  console.log(`25 MB peaks by thread and phase (from /metrics every 100 ms), pass ${n}`);
  for (const [name, a, b] of phases) {
    console.log(`  ${name}`);
    console.log(`    A: ${threadPeaks(a)}`);
    console.log(`    B: ${threadPeaks(b)}`);
  }
  return { size, a: pa.peakMb - idleA, b: pb.peakMb - idleB };
}

async function main(): Promise<void> {
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`medgate memory bench: ${os.cpus()[0]?.model ?? 'cpu'}, ${CORES} core(s), ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, load average ${load}`);
  const t = await setupTwoGateways({ queue: { pollMs: 100 } });
  try {
    for (const [g, who] of [[t.a, PAUL], [t.b, CLAIRE]] as const) {
      setConfig(g, (c) => { (c['security'] as Record<string, unknown>)['kdfMemoryExponent'] = KDF_MEMORY_EXPONENT; });
      const r = await g.cli('user', 'passwd', who, '--current', PASSWORD, '--password', PASSWORD);
      if (r.code !== 0) throw new Error(`re-wrapping ${who}'s key failed: ${r.stderr}`);
    }

    // 1. Idle: the bare process, the previous fixed pool, the default.
    const bare = await bareNode();
    setConfig(t.a, (c) => { c['workers'] = { sealing: { minThreads: CORES, maxThreads: CORES, idleSeconds: 30 } }; });
    const fixed = await idleOf(t.a);
    await t.a.serve!.stop();
    setConfig(t.a, (c) => { delete c['workers']; });
    const idle = await idleOf(t.a);
    const perSealingThread = (fixed.rssMb - idle.rssMb) / Math.max(1, sealing(fixed.threads));
    console.log('');
    console.log('idle RSS (after ' + SETTLE_MS / 1000 + ' s)');
    console.log(`  bare node, gateway modules loaded     ${mb(bare.rssMb).padStart(7)}  (anonymous ${mb(bare.anonMb)}; ${bare.threads.length} threads)`);
    console.log(`  gateway, fixed pool of ${CORES} (previous)  ${mb(fixed.rssMb).padStart(7)}  (anonymous ${mb(fixed.anonMb)}; ${fixed.threads.length} threads: ${threadList(fixed.threads)})`);
    console.log(`  gateway, default (pool 0..${CORES})        ${mb(idle.rssMb).padStart(7)}  (anonymous ${mb(idle.anonMb)}; ${idle.threads.length} threads: ${threadList(idle.threads)})`);
    console.log(`  ratios: default ÷ bare ${(idle.rssMb / bare.rssMb).toFixed(2)}×, default ÷ previous ${(idle.rssMb / fixed.rssMb).toFixed(2)}×   target idle ≤ 150 MB: ${idle.rssMb <= 150 ? 'met' : 'NOT met'}`);
    console.log(`  by thread: code and heap of the main thread before work ${mb(bare.rssMb)}; the gateway's own state on it ${mb(idle.rssMb - bare.rssMb)}; each sealing thread at rest ${mb(perSealingThread)}`);

    // 2. 25 MB: submitted to A, relayed to B, fetched from B by IMAP. Twice, each on freshly
    // started gateways: first as a cold client does it (SMTP AUTH and IMAP LOGIN, each an Argon2
    // unwrap of 64 MiB at production cost, inside the measured window: the stricter figure, kept),
    // then with the doctors already logged in (their Argon2 before the window).
    await serve(t.b);
    await sleep(SETTLE_MS);
    const idleB = sample(t.b.serve!.child.pid!);
    const cold = await pass(t, 1, idle.rssMb, idleB.rssMb, false);

    // 3. Back to rest: the sealing threads end after workers.sealing.idleSeconds (30 s).
    await sleep(40_000);
    const restA = sample(t.a.serve!.child.pid!);
    const restB = sample(t.b.serve!.child.pid!);
    console.log('');
    console.log(`40 s later: A ${mb(restA.rssMb)} (${sealing(restA.threads)} sealing threads), B ${mb(restB.rssMb)} (${sealing(restB.threads)} sealing threads)`);

    // 4. The same with the sessions logged in beforehand, on restarted gateways.
    await Promise.all([t.a.serve!.stop(), t.b.serve!.stop()]);
    await Promise.all([serve(t.a), serve(t.b)]);
    await sleep(SETTLE_MS);
    const idleA2 = sample(t.a.serve!.child.pid!).rssMb;
    const idleB2 = sample(t.b.serve!.child.pid!).rssMb;
    const warm = await pass(t, 2, idleA2, idleB2, true);

    console.log('');
    console.log(`summary (load average now ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}), peak above idle for the ${cold.size.toFixed(1)} MB message, target ≤ 2× (+${mb(2 * cold.size)}):`);
    const verdict = (d: number, s: number) => `+${mb(d)} = ${(d / s).toFixed(2)}× (${d <= 2 * s ? 'met' : 'NOT met'})`;
    console.log(`  A, logins inside the window (cold AUTH, the stricter figure)    ${verdict(cold.a, cold.size)}`);
    console.log(`  A, sender already logged in (AUTH's Argon2 before the window)   ${verdict(warm.a, warm.size)}`);
    console.log(`  B, logins inside the window (cold LOGIN, the stricter figure)   ${verdict(cold.b, cold.size)}`);
    console.log(`  B, reader already logged in (LOGIN's Argon2 before the window)  ${verdict(warm.b, warm.size)}`);
  } finally {
    await t.cleanup();
  }
}

await main();
