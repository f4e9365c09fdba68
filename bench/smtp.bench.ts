/**
 * SMTP benchmark (npx tsx bench/smtp.bench.ts; needs the built dist: npx tsc -p tsconfig.json).
 *
 * In one run, on this machine:
 *  1. medgate end to end: N concurrent submitting clients (STARTTLS + AUTH), each message a 20 KB
 *     text body + a 100 KB PDF, one local and one remote recipient (the remote one is relayed to a
 *     second gateway over mutual TLS); accepted messages/s, p50/p99 latency to 250, peak RSS.
 *     First BENCH_WARMUP messages (default 1000) go over the same connections, uncounted: they pay
 *     the logins and the JIT compilation of fresh processes (their rate is printed apart; after 200,
 *     `--trace-opt` still showed TurboFan compiling 456 functions over the next 400 messages, about
 *     1.5 ms of compiler threads a message that a gateway running for days never pays again); the
 *     relay drains their remote copies before the clock starts. CPU is then accounted per process
 *     and per thread of gateway A (main, seal workers, V8's helper threads, libuv's pool).
 *     Judged per CPU (issue 16): gateway A's process CPU (user + sys, main and worker threads, from
 *     /proc) over the counted window ÷ accepted messages, next to the raw seal()'s CPU per message
 *     of part 3; target ≤ 2×.
 * 1b. the same logged-in connections, open-loop at half the steady-state rate just measured (the
 *     saturating rate of those clients): BENCH_PACED_MESSAGES submissions started on a fixed
 *     schedule, each on a free connection, latency from its scheduled start to the 250; p50/p99,
 *     target p99 < 250 ms. Its remote copies are relayed before part 2.
 * 1c. CPU ratio in alternating rounds (BENCH_ROUNDS, default 6): the same connections send
 *     BENCH_ROUND_MESSAGES (150) at full speed, and A's CPU is taken from the round's first
 *     submission to the end of the relay of its remote copies; then, with both gateways idle, the
 *     raw seal of part 3 runs BENCH_ROUND_SEALS (60) times in this process. Each round's ratio is
 *     gateway A's CPU per message ÷ the raw seal's CPU per seal measured a few seconds apart, so a
 *     machine whose speed drifts over the run (here the raw seal alone ranged 6.4–11 ms between
 *     runs, and a run's gateway window and its part 3 can fall on either side of such a drift)
 *     skews one round rather than the whole figure; the median of the rounds is printed.
 *  2. baseline (a): a bare smtp-server that only writes each message to disk with fsync.
 *  3. baseline (b): the raw seal rate of src/crypto/seal `seal()` in-process (warmed up on the
 *     gateway's warm-up messages), one seal at a time on one thread, of the messages of part 1's
 *     counted window, each once (same kind and number of keys: 2 recipients + sender, 2 filing keys),
 *     with its CPU per seal (openpgp's WebCrypto jobs run on libuv's pool, so one seal at a time
 *     already uses more than one core now and then).
 *  4. a 25 MB message submitted and relayed: peak RSS of both gateway processes before and after.
 * Gateway A runs with the production KDF setting (security.kdfMemoryExponent 16: Argon2 with
 * 64 MiB at each login) unless BENCH_KDF_MEMORY_EXPONENT says otherwise; the sender's key is
 * re-wrapped with it before `serve`. Each client logs in once and sends BENCH_MESSAGES_PER_LOGIN
 * messages (default: all of its share) per connection before reconnecting and logging in again.
 * The run prints how many of those logins cost a full unlock (scrypt + Argon2) and how many the
 * login cache (security.loginCache, BENCH_LOGIN_CACHE_TTL seconds; maxEntries 0 = off) or a simultaneous
 * login answered, from gateway A's audit trail. Gateway B (the relay target) runs on the same machine.
 * Environment: BENCH_CLIENTS (default 8), BENCH_MESSAGES (default 400), BENCH_KDF_MEMORY_EXPONENT (16),
 * BENCH_MESSAGES_PER_LOGIN (unlimited), BENCH_LOGIN_CACHE_TTL (the config default, 60 s),
 * BENCH_WARMUP (1000), BENCH_PARALLEL_GC=1: run gateway A without --single-threaded-gc (V8's default),
 * BENCH_PACED_MESSAGES (300; 0 skips part 1b), BENCH_PACED_RATE (msg/s; default half the measured rate),
 * BENCH_NODE_FLAGS: more node flags for gateway A, BENCH_CPU_PROF=DIR: run gateway A under `node --cpu-prof` during part 1 (its main thread and
 * workers each write a .cpuprofile into DIR when it stops; A is restarted without it for part 4).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { SMTPServer } from 'smtp-server';
import { generatePgpKey } from '../src/crypto/keys.js';
import { seal } from '../src/crypto/seal/index.js';
import { SERVE_NODE_FLAGS } from '../src/runtime/node-flags.js';
import { CLI, startServe } from '../test/helpers/gateway.js';
import { buildMessage, burst, cpuSecondsOf, drive, median, pace, percentile, rssOf, threadCpuOf, type DriveResult } from './lib/smtp-load.js';
import { JL, CLAIRE, PAUL, PASSWORD, caPem, mailboxBlobIds, pendingQueue, serve, setupTwoGateways, waitFor, type GatewayHandle } from '../test/smtp/relay-fixture.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 400);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1000);
const KDF_MEMORY_EXPONENT = Number(process.env.BENCH_KDF_MEMORY_EXPONENT ?? 16);
const MESSAGES_PER_LOGIN = Number(process.env.BENCH_MESSAGES_PER_LOGIN ?? Infinity);
const LOGIN_CACHE_TTL = process.env.BENCH_LOGIN_CACHE_TTL === undefined ? undefined : Number(process.env.BENCH_LOGIN_CACHE_TTL);
const PARALLEL_GC = process.env.BENCH_PARALLEL_GC === '1';
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
const PACED_MESSAGES = Number(process.env.BENCH_PACED_MESSAGES ?? 300);
const PACED_RATE = process.env.BENCH_PACED_RATE === undefined ? undefined : Number(process.env.BENCH_PACED_RATE);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const ROUND_MESSAGES = Number(process.env.BENCH_ROUND_MESSAGES ?? 150);
const ROUND_SEALS = Number(process.env.BENCH_ROUND_SEALS ?? 60);
const SEAL_MIN_THREADS = process.env.BENCH_SEAL_MIN_THREADS === undefined ? undefined : Number(process.env.BENCH_SEAL_MIN_THREADS);

function line(name: string, r: { seconds: number; latencies: number[]; failures: number }, rss: string): string {
  const rate = r.latencies.length / r.seconds;
  return `${name.padEnd(34)} ${rate.toFixed(1).padStart(7)} msg/s   p50 ${percentile(r.latencies, 50).toFixed(0).padStart(5)} ms   p99 ${percentile(r.latencies, 99).toFixed(0).padStart(5)} ms   failures ${r.failures}   ${rss}`;
}

/** Successful logins on a gateway after audit seq `afterSeq`, by how the key was unlocked (audit details.unlock), through the store. */
async function loginsSince(g: GatewayHandle, afterSeq: number): Promise<{ full: number; cached: number; joined: number; lastSeq: number }> {
  const records = await (await g.store()).audit.list(afterSeq + 1, 1_000_000);
  const kinds = records.filter((r) => r.action === 'auth.login' && r.outcome === 'ok').map((r) => (r.details as { unlock?: string }).unlock ?? 'full');
  const lastSeq = records.length ? records[records.length - 1]!.seq : afterSeq;
  return { full: kinds.filter((k) => k === 'full').length, cached: kinds.filter((k) => k === 'cached').length, joined: kinds.filter((k) => k === 'joined').length, lastSeq };
}

/**
 * Starts gateway A as `npm start` does (node --single-threaded-gc), or with V8's default parallel GC
 * when BENCH_PARALLEL_GC=1 (the comparison in docs/smtp.md), plus BENCH_NODE_FLAGS, plus the CPU
 * profiler when BENCH_CPU_PROF is set (worker threads inherit it).
 */
async function serveA(g: Parameters<typeof serve>[0], profile: boolean): Promise<void> {
  const flags = [
    ...(PARALLEL_GC ? [] : SERVE_NODE_FLAGS),
    ...(process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(' ').filter(Boolean) : []),
    ...(profile && CPU_PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF_DIR}`] : []),
  ];
  g.serve = await startServe(g.config, 90_000, { file: process.execPath, args: [...flags, CLI] });
}

async function bareServer(dir: string): Promise<{ port: number; close(): Promise<void> }> {
  let n = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS', 'AUTH'], logger: false, size: 50 * 1024 * 1024,
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const file = path.join(dir, `${n++}.eml`);
        fs.open(file, 'w', (err, fd) => {
          if (err) return cb(err);
          fs.write(fd, Buffer.concat(chunks), (werr) => {
            if (werr) return cb(werr);
            fs.fsync(fd, (serr) => fs.close(fd, () => cb(serr ?? null)));
          });
        });
      });
    },
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.server.address() as { port: number }).port)));
  return { port, close: () => new Promise((r) => server.close(() => r())) };
}

async function main(): Promise<void> {
  console.log(`medgate SMTP bench: ${CLIENTS} clients, ${MESSAGES} messages of 20 KB text + 100 KB PDF; ${os.cpus().length} CPU(s), Node ${process.version}`);
  console.log('setting up two gateways (shared test CA, peers, directory exchange)...');
  const t = await setupTwoGateways({ extraUsers: { a: [[JL, '10100000041']] }, queue: { pollMs: 50 } });
  try {
    // Production KDF on the gateway under test: Argon2 with 64 MiB (exponent 16) at each login.
    const configA = YAML.parse(fs.readFileSync(t.a.config, 'utf8')) as { security: { kdfMemoryExponent: number; loginCache?: { ttlSeconds: number } } };
    configA.security.kdfMemoryExponent = KDF_MEMORY_EXPONENT;
    if (LOGIN_CACHE_TTL !== undefined) configA.security.loginCache = { ttlSeconds: LOGIN_CACHE_TTL };
    // BENCH_SEAL_MIN_THREADS: gateway A's sealing threads kept at rest (default 0; = cores: the fixed pool before issue 31).
    if (SEAL_MIN_THREADS !== undefined) (configA as Record<string, unknown>)['workers'] = { sealing: { minThreads: SEAL_MIN_THREADS } };
    fs.writeFileSync(t.a.config, YAML.stringify(configA));
    const rewrap = await t.a.cli('user', 'passwd', PAUL, '--current', PASSWORD, '--password', PASSWORD);
    if (rewrap.code !== 0) throw new Error(`re-wrapping the sender's key failed: ${rewrap.stderr}`);
    await Promise.all([serveA(t.a, true), serve(t.b)]);
    const ca = caPem(t);
    const messages = Array.from({ length: MESSAGES }, (_v, n) => buildMessage(n, [JL, CLAIRE]));
    const sample = messages[0]!;

    // 1. medgate end to end: a warm-up on the same connections, then the measured run.
    const warmup = Array.from({ length: WARMUP }, (_v, n) => buildMessage(MESSAGES + n, [JL, CLAIRE]));
    const audit0 = (await loginsSince(t.a, 0)).lastSeq;
    const pids = { a: t.a.serve!.child.pid!, b: t.b.serve!.child.pid! };
    let cpu0 = { a: 0, b: 0 };
    let threads0 = new Map<string, number>();
    let bench0 = process.cpuUsage();
    const gw = await drive(t.a.serve!.ports.smtpSubmission!, { tls: true, ca, auth: { user: PAUL, pass: PASSWORD }, clients: CLIENTS, messagesPerLogin: MESSAGES_PER_LOGIN }, [JL, CLAIRE], messages, warmup, async () => {
      // The remote copies of the warm-up are relayed before the clock starts: their cost is not the run's.
      await waitFor(async () => (await mailboxBlobIds(t.b, CLAIRE)).length >= WARMUP, 300_000, 'relay of the warm-up to drain');
      cpu0 = { a: cpuSecondsOf(pids.a), b: cpuSecondsOf(pids.b) };
      threads0 = threadCpuOf(pids.a);
      bench0 = process.cpuUsage();
    });
    const cpuUsed = { a: cpuSecondsOf(pids.a) - cpu0.a, b: cpuSecondsOf(pids.b) - cpu0.b };
    const cores = { a: cpuUsed.a / gw.seconds, b: cpuUsed.b / gw.seconds };
    const benchCpu = process.cpuUsage(bench0);
    const threads1 = threadCpuOf(t.a.serve!.child.pid!);
    const perThread = [...threads1].filter(([n, s]) => s - (threads0.get(n) ?? 0) > 0.05).map(([name, s]) => `${name} ${((s - (threads0.get(name) ?? 0)) * 1000 / Math.max(1, gw.latencies.length)).toFixed(1)}`).join(', ');
    const rssA = rssOf(t.a.serve!.child.pid!);
    const relayStart = performance.now();
    await waitFor(async () => (await mailboxBlobIds(t.b, CLAIRE)).length >= WARMUP + gw.latencies.length, 300_000, 'relay to drain');
    const relaySeconds = (performance.now() - relayStart) / 1000;
    // Gateway A's CPU from the start of the window to the end of the relay of the window's messages.
    const cpuWithDrainA = cpuSecondsOf(pids.a) - cpu0.a;
    const logins = await loginsSince(t.a, audit0);

    // 1b. the same connections, open-loop at half the saturating rate just measured (or BENCH_PACED_RATE).
    const gwRate = gw.latencies.length / gw.seconds;
    const pacedRate = PACED_RATE ?? gwRate / 2;
    let paced: (DriveResult & { rate: number; cpuA: number; cpuB: number; logins: Awaited<ReturnType<typeof loginsSince>> }) | undefined;
    if (PACED_MESSAGES > 0) {
      const list = Array.from({ length: PACED_MESSAGES }, (_v, n) => buildMessage(2 * MESSAGES + WARMUP + n, [JL, CLAIRE]));
      const p0 = { a: cpuSecondsOf(pids.a), b: cpuSecondsOf(pids.b) };
      const r = await pace(gw.transports, [JL, CLAIRE], list, pacedRate);
      const p1 = { a: cpuSecondsOf(pids.a), b: cpuSecondsOf(pids.b) };
      await waitFor(async () => (await mailboxBlobIds(t.b, CLAIRE)).length >= WARMUP + gw.latencies.length + r.latencies.length, 300_000, 'relay of the paced phase to drain');
      paced = { ...r, rate: pacedRate, cpuA: p1.a - p0.a, cpuB: p1.b - p0.b, logins: await loginsSince(t.a, logins.lastSeq) };
    }
    // The raw seal of part 3 (and 1c), same message, keys of the same kind (sender, 2 recipients + self, 2 filing keys).
    const [sender, r1, r2, f1, f2] = await Promise.all(['s', 'r1', 'r2', 'f1', 'f2'].map((n) => generatePgpKey(n, `${n}@bench.test`)));
    const sealOnce = (raw: string) => seal({
      raw: Buffer.from(raw), signingKey: sender!.privateKey,
      recipientKeys: [r1!.privateKey.toPublic(), r2!.privateKey.toPublic(), sender!.privateKey.toPublic()],
      filingKeys: [f1!.privateKey.toPublic(), f2!.privateKey.toPublic()], envelope: { from: PAUL, to: [JL, CLAIRE] },
      routing: { messageId: '<b@x>', patient: null, document: { type: 'other', date: '2026-01-01' }, sender: { address: PAUL }, recipients: [JL, CLAIRE] },
    });
    for (const raw of warmup.length > 0 ? warmup : [sample]) await sealOnce(raw); // warmed up like the gateway, on its warm-up messages

    // 1c. alternating rounds: gateway A's CPU per message, then the raw seal's, a few seconds apart.
    const rounds: Array<{ gatewayMs: number; sealMs: number; failures: number }> = [];
    let relayed = WARMUP + gw.latencies.length + (paced?.latencies.length ?? 0);
    for (let r = 0; r < ROUNDS; r++) {
      const list = Array.from({ length: ROUND_MESSAGES }, (_v, n) => buildMessage(3 * MESSAGES + WARMUP + PACED_MESSAGES + r * ROUND_MESSAGES + n, [JL, CLAIRE]));
      const c0 = cpuSecondsOf(pids.a);
      const res = await burst(gw.transports, [JL, CLAIRE], list);
      relayed += res.latencies.length;
      await waitFor(async () => (await mailboxBlobIds(t.b, CLAIRE)).length >= relayed, 300_000, `relay of round ${r + 1} to drain`);
      const gatewayMs = ((cpuSecondsOf(pids.a) - c0) * 1000) / Math.max(1, res.latencies.length);
      const s0 = process.cpuUsage();
      for (const raw of list.slice(0, ROUND_SEALS)) await sealOnce(raw);
      const su = process.cpuUsage(s0);
      rounds.push({ gatewayMs, sealMs: (su.user + su.system) / 1000 / Math.min(ROUND_SEALS, list.length), failures: res.failures });
    }
    gw.close();
    if (CPU_PROF_DIR) {
      // The profile is written when A exits; restart it unprofiled for the 25 MB part.
      await t.a.serve!.stop('SIGTERM');
      await serveA(t.a, false);
    }

    // 2. bare smtp-server + fsync.
    const spool = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-bare-'));
    const bare = await bareServer(spool);
    const bareRes = await drive(bare.port, { tls: false, clients: CLIENTS, messagesPerLogin: MESSAGES_PER_LOGIN }, [JL, CLAIRE], messages, warmup);
    bareRes.close();
    await bare.close();
    fs.rmSync(spool, { recursive: true, force: true });

    // One at a time: a single thread's rate (concurrent seals would also spread the WebCrypto
    // jobs over libuv's thread pool, i.e. over more than one core). The messages of the counted
    // window, each once; CPU is this process's (user + sys, every thread: main and libuv's pool).
    const sealN = messages.length;
    const s0 = performance.now();
    const sealCpu0 = process.cpuUsage();
    for (const raw of messages) await sealOnce(raw);
    const sealRate = sealN / ((performance.now() - s0) / 1000);
    const sealCpu = process.cpuUsage(sealCpu0);
    const sealCpuMs = (sealCpu.user + sealCpu.system) / 1000 / sealN;
    console.log('');
    if (WARMUP > 0) console.log(line(`  warm-up: first ${WARMUP}, not counted`, gw.warmup, 'fresh processes: logins, JIT compilation'));
    console.log(line('medgate (submit → seal → commit)', gw, `peak RSS ${rssA.peakMb} MB (gateway A)`));
    console.log(`${'  CPU during the run'.padEnd(34)} gateway A ${cores.a.toFixed(2)} cores, gateway B (relay) ${cores.b.toFixed(2)} cores, of ${os.cpus().length} on this machine`);
    console.log(`${'  CPU per accepted message'.padEnd(34)} gateway A ${(cpuUsed.a * 1000 / Math.max(1, gw.latencies.length)).toFixed(1)} ms (logins included), gateway B ${(cpuUsed.b * 1000 / Math.max(1, gw.latencies.length)).toFixed(1)} ms`);
    console.log(`${'  gateway A by thread (ms/message)'.padEnd(34)} ${perThread}`);
    console.log(`${'  the submitting clients'.padEnd(34)} ${((benchCpu.user + benchCpu.system) / 1000 / Math.max(1, gw.latencies.length)).toFixed(1)} ms CPU per message (this bench process)`);
    console.log(`${'  logins on gateway A'.padEnd(34)} ${logins.full + logins.cached + logins.joined}: ${logins.full} full (scrypt + Argon2), ${logins.cached} from the login cache, ${logins.joined} joined a simultaneous full unlock (${Number.isFinite(MESSAGES_PER_LOGIN) ? `${MESSAGES_PER_LOGIN} messages per login` : 'one login per client'}; login cache TTL ${LOGIN_CACHE_TTL ?? 'default 60'} s)`);
    console.log(`${'  relay of the remote copies'.padEnd(34)} drained ${relaySeconds.toFixed(1)} s after the last 250`);
    console.log(line('(a) bare smtp-server + fsync', bareRes, `(in the bench process, RSS ${Math.round(process.memoryUsage().rss / 1048576)} MB)`));
    console.log(`${'(b) raw seal() in-process'.padEnd(34)} ${sealRate.toFixed(1).padStart(7)} seals/s (one at a time, one thread; ${sealCpuMs.toFixed(1)} ms CPU per seal, WebCrypto jobs included)`);
    const bareRate = bareRes.latencies.length / bareRes.seconds;
    console.log(`medgate / raw seal rate: ${(gwRate / sealRate).toFixed(2)}× (old target ≥ 0.6×, withdrawn by issue 16); medgate / bare fsync server: ${(gwRate / bareRate).toFixed(2)}×`);
    const cpuPerMsgA = (cpuUsed.a * 1000) / Math.max(1, gw.latencies.length);
    const cpuPerMsgDrainA = (cpuWithDrainA * 1000) / Math.max(1, gw.latencies.length);
    console.log(`CPU per message, gateway A ÷ raw seal(): ${cpuPerMsgA.toFixed(1)} ms ÷ ${sealCpuMs.toFixed(1)} ms = ${(cpuPerMsgA / sealCpuMs).toFixed(2)}× (target ≤ 2×; A's process CPU, all threads, over the counted window ÷ accepted messages); with the relay drain after the window ${cpuPerMsgDrainA.toFixed(1)} ms = ${(cpuPerMsgDrainA / sealCpuMs).toFixed(2)}×`);
    if (paced) {
      const n = Math.max(1, paced.latencies.length);
      console.log(line(`paced, open-loop at ${paced.rate.toFixed(1)} msg/s`, paced, `${PACED_RATE === undefined ? 'half the saturating rate above' : 'BENCH_PACED_RATE'}, ${paced.latencies.length} messages, latency from the scheduled start`));
      console.log(`${'  p99 submit → 250 at that load'.padEnd(34)} ${percentile(paced.latencies, 99).toFixed(0)} ms (target < 250 ms); CPU per message gateway A ${((paced.cpuA * 1000) / n).toFixed(1)} ms, B ${((paced.cpuB * 1000) / n).toFixed(1)} ms; logins ${paced.logins.full + paced.logins.cached + paced.logins.joined} (${paced.logins.full} full)`);
    }
    if (rounds.length) {
      const ratios = rounds.map((r) => r.gatewayMs / r.sealMs);
      console.log(`${'alternating rounds (1c)'.padEnd(34)} ${rounds.map((r) => `${r.gatewayMs.toFixed(1)}/${r.sealMs.toFixed(1)}=${(r.gatewayMs / r.sealMs).toFixed(2)}×`).join('  ')}${rounds.some((r) => r.failures) ? `  FAILURES ${rounds.reduce((n, r) => n + r.failures, 0)}` : ''}`);
      console.log(`CPU per message, alternating rounds: median ${median(ratios).toFixed(2)}× (range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×; ${rounds.length} rounds of ${ROUND_MESSAGES} messages, A's CPU up to the end of their relay, ÷ ${ROUND_SEALS} raw seals right after; target ≤ 2×)`);
    }
    console.log(`(gateway: sealing and login key unwrapping in a worker pool; Argon2 memory exponent ${KDF_MEMORY_EXPONENT}; gateway B relays on the same machine)`);

    // 4. 25 MB through submission and the relay.
    const before = { a: rssOf(t.a.serve!.child.pid!), b: rssOf(t.b.serve!.child.pid!) };
    const big = buildMessage(999_999, [CLAIRE], 'x'.repeat(20 * 1024), 18 * 1024 * 1024); // ≈ 25 MB once base64-encoded
    const bigSize = Buffer.byteLength(big);
    const countBefore = (await mailboxBlobIds(t.b, CLAIRE)).length;
    const tBig = performance.now();
    const bigRes = await drive(t.a.serve!.ports.smtpSubmission!, { tls: true, ca, auth: { user: PAUL, pass: PASSWORD }, clients: CLIENTS, messagesPerLogin: MESSAGES_PER_LOGIN }, [CLAIRE], [big]);
    bigRes.close();
    await waitFor(async () => (await pendingQueue(t.a)).length === 0, 300_000, 'the 25 MB message to be relayed');
    const after = { a: rssOf(t.a.serve!.child.pid!), b: rssOf(t.b.serve!.child.pid!) };
    console.log('');
    console.log(`25 MB message (${(bigSize / 1048576).toFixed(1)} MB): submitted in ${((bigRes.latencies[0] ?? NaN) / 1000).toFixed(1)} s, relayed within ${((performance.now() - tBig) / 1000).toFixed(1)} s, failures ${bigRes.failures}, in B's mailbox: ${(await mailboxBlobIds(t.b, CLAIRE)).length > countBefore ? 'yes' : 'NO'}`);
    console.log(`  gateway A (submission + seal + queue) peak RSS ${before.a.peakMb} → ${after.a.peakMb} MB`);
    console.log(`  gateway B (relay: spool, routing check, commit) peak RSS ${before.b.peakMb} → ${after.b.peakMb} MB`);
  } finally {
    await t.cleanup();
  }
}

await main();
