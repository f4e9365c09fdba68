/**
 * Store bench (npx tsc -p tsconfig.json && npx tsx bench/store.bench.ts): the SMTP load of
 * bench/smtp.bench.ts on gateway A with its embedded SQLite store, then with PostgreSQL, in the same
 * run, same messages (20 KB text + 100 KB PDF, one local and one remote recipient relayed to
 * gateway B, which stays on SQLite). PostgreSQL is a throw-away Debian cluster on loopback with
 * durable commits (fsync on, synchronous_commit on: as SQLite's synchronous=FULL).
 *
 * Per store: accepted messages/s after an uncounted warm-up, p50/p99 submit → 250, gateway A's CPU
 * per message, and for PostgreSQL the server's CPU per message, the round trips per message
 * (statements A sent, from its /metrics) and the bytes the database grew per message. Prints the
 * PostgreSQL ÷ SQLite throughput ratio; target ≥ 0.8×.
 * Environment: BENCH_CLIENTS (8), BENCH_MESSAGES (600), BENCH_WARMUP (150); fewer make the ratio noisy (±5% at 300).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { PgCluster, locatePostgres } from '../test/helpers/postgres.js';
import { CLAIRE, JL, PAUL, PASSWORD, caPem, mailboxBlobs, serve, setupTwoGateways, waitFor } from '../test/smtp/relay-fixture.js';
import { buildMessage, cpuSecondsOf, drive, percentile } from './lib/smtp-load.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 600);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 150);

/** CPU seconds of every process of the PostgreSQL cluster (postmaster and its backends). */
function clusterCpu(dataDir: string): number {
  const postmaster = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  let total = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      if (Number(pid) === postmaster || Number(f[1]) === postmaster) total += (Number(f[11]) + Number(f[12])) / 100;
    } catch { /* gone */ }
  }
  return total;
}

async function roundTrips(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^medgate_store_round_trips_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

interface StoreRun {
  name: string;
  rate: number;
  p50: number;
  p99: number;
  failures: number;
  cpuMsA: number;
  cpuMsDb?: number;
  roundTripsPerMessage?: number;
  bytesPerMessage: number;
}

async function runOn(name: 'sqlite' | 'postgres', messages: string[], warmup: string[], cluster?: PgCluster): Promise<StoreRun> {
  let url: string | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  if (cluster) ({ url, drop: dropDb } = await cluster.createDatabase('bench'));
  const store = url ? { driver: 'postgres', postgres: { url, poolSize: 10 } } : undefined;
  const t = await setupTwoGateways({ extraUsers: { a: [[JL, '10100000041']] }, queue: { pollMs: 50 }, config: store ? { a: { store } } : {} });
  const admin = url ? new pg.Client({ connectionString: url }) : undefined;
  await admin?.connect();
  try {
    await Promise.all([serve(t.a), serve(t.b)]);
    const pid = t.a.serve!.child.pid!;
    const size = async (): Promise<number> => {
      if (admin) return Number((await admin.query('SELECT pg_database_size(current_database()) AS n')).rows[0].n);
      const base = path.join(t.a.dir, 'data', 'medgate.db');
      return ['', '-wal'].reduce((s, x) => s + (fs.existsSync(base + x) ? fs.statSync(base + x).size : 0), 0) + dirSize(path.join(t.a.dir, 'data', 'blobs'));
    };
    let cpu0 = 0;
    let db0 = 0;
    let trips0 = 0;
    let size0 = 0;
    const r = await drive(t.a.serve!.ports.smtpSubmission!, { tls: true, ca: caPem(t), auth: { user: PAUL, pass: PASSWORD }, clients: CLIENTS }, [JL, CLAIRE], messages, warmup, async () => {
      await waitFor(() => mailboxBlobs(t.b, CLAIRE).length >= WARMUP, 300_000, 'relay of the warm-up');
      cpu0 = cpuSecondsOf(pid);
      db0 = cluster ? clusterCpu(path.join(cluster.dir, 'data')) : 0;
      trips0 = url ? await roundTrips(t.a.serve!.ports.http!) : 0;
      size0 = await size();
    });
    const accepted = Math.max(1, r.latencies.length);
    const cpuA = cpuSecondsOf(pid) - cpu0;
    const cpuDb = cluster ? clusterCpu(path.join(cluster.dir, 'data')) - db0 : undefined;
    const trips = url ? (await roundTrips(t.a.serve!.ports.http!)) - trips0 : undefined;
    r.close();
    await waitFor(() => mailboxBlobs(t.b, CLAIRE).length >= WARMUP + r.latencies.length, 300_000, 'relay to drain');
    const grown = (await size()) - size0;
    return {
      name, rate: r.latencies.length / r.seconds, p50: percentile(r.latencies, 50), p99: percentile(r.latencies, 99), failures: r.failures,
      cpuMsA: (cpuA * 1000) / accepted, cpuMsDb: cpuDb === undefined ? undefined : (cpuDb * 1000) / accepted,
      roundTripsPerMessage: trips === undefined ? undefined : trips / accepted, bytesPerMessage: grown / accepted,
    };
  } finally {
    await admin?.end();
    await t.cleanup();
    await dropDb?.();
  }
}

function dirSize(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) n += e.isDirectory() ? dirSize(path.join(dir, e.name)) : fs.statSync(path.join(dir, e.name)).size;
  return n;
}

async function main(): Promise<void> {
  const found = locatePostgres();
  if (!found.ok) throw new Error(`PostgreSQL is needed for this bench: ${found.reason}`);
  console.log(`medgate store bench: ${CLIENTS} clients, ${MESSAGES} messages (+${WARMUP} warm-up) of 20 KB text + 100 KB PDF, 1 local + 1 remote recipient; ${os.cpus().length} CPU(s), Node ${process.version}`);
  const cluster = await PgCluster.start(found.bin, { durable: true });
  try {
    const messages = Array.from({ length: MESSAGES }, (_v, n) => buildMessage(n, [JL, CLAIRE]));
    const warmup = Array.from({ length: WARMUP }, (_v, n) => buildMessage(MESSAGES + n, [JL, CLAIRE]));
    const sqlite = await runOn('sqlite', messages, warmup);
    const postgres = await runOn('postgres', messages, warmup, cluster);
    console.log('');
    for (const r of [sqlite, postgres]) {
      const extra = r.cpuMsDb === undefined ? '' : `, PostgreSQL server ${r.cpuMsDb.toFixed(1)} ms CPU, ${r.roundTripsPerMessage!.toFixed(1)} round trips`;
      console.log(`${r.name.padEnd(9)} ${r.rate.toFixed(1).padStart(6)} msg/s  p50 ${r.p50.toFixed(0).padStart(4)} ms  p99 ${r.p99.toFixed(0).padStart(5)} ms  failures ${r.failures}  per message: gateway A ${r.cpuMsA.toFixed(1)} ms CPU${extra}, store grew ${(r.bytesPerMessage / 1024).toFixed(0)} KiB`);
    }
    console.log(`PostgreSQL ÷ SQLite throughput: ${(postgres.rate / sqlite.rate).toFixed(2)}× (target ≥ 0.8×)`);
  } finally {
    await cluster.destroy();
  }
}

await main();
