/**
 * The cost of the encrypted spool (issue 27): a large DATA body written to the spool and read back
 * once whole (what sealing a large submission does: parse, then seal from the file), through
 * AES-256-GCM under a key per message (src/util/spool-file.ts) against the same through a clear
 * file, same bytes, same chunking (64 KiB, as a socket delivers them), alternating rounds in one run.
 *   npx tsx bench/spool.bench.ts          (BENCH_MB: message size, default 25; BENCH_ROUNDS: 6)
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { newSpoolKey, readRaw, SpoolWriter } from '../src/util/spool-file.js';

const MB = Number(process.env.BENCH_MB ?? 25);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const CHUNK = 64 * 1024;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-spool-bench-'));
const message = randomBytes(MB * 1024 * 1024);
const chunks: Buffer[] = [];
for (let i = 0; i < message.length; i += CHUNK) chunks.push(message.subarray(i, i + CHUNK));

async function clear(): Promise<void> {
  const file = path.join(dir, `clear-${randomBytes(4).toString('hex')}`);
  const fh = await fs.promises.open(file, 'wx', 0o600);
  for (const c of chunks) await fh.write(c);
  await fh.close();
  let n = 0;
  for await (const c of fs.createReadStream(file)) n += (c as Buffer).length;
  if (n !== message.length) throw new Error('short read');
  await fs.promises.unlink(file);
}

async function encrypted(): Promise<void> {
  const w = new SpoolWriter(newSpoolKey(path.join(dir, `enc-${randomBytes(4).toString('hex')}`)));
  for (const c of chunks) await w.write(c);
  const file = await w.end();
  let n = 0;
  for await (const c of readRaw(file)) n += (c as Buffer).length;
  if (n !== message.length) throw new Error('short read');
  await fs.promises.unlink(file.path);
}

async function measure(fn: () => Promise<void>): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const cpu = process.cpuUsage(cpu0);
  return { wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await clear();
await encrypted(); // warm-up, uncounted
const rows: Array<{ clear: { wallMs: number; cpuMs: number }; enc: { wallMs: number; cpuMs: number } }> = [];
for (let r = 0; r < ROUNDS; r++) {
  const a = await measure(clear);
  const b = await measure(encrypted);
  rows.push({ clear: a, enc: b });
  console.log(`round ${r + 1}: clear ${a.wallMs.toFixed(1)} ms wall / ${a.cpuMs.toFixed(1)} ms CPU; encrypted ${b.wallMs.toFixed(1)} ms / ${b.cpuMs.toFixed(1)} ms; ratio wall ${(b.wallMs / a.wallMs).toFixed(2)}×, CPU ${(b.cpuMs / a.cpuMs).toFixed(2)}×`);
}
const wall = median(rows.map((x) => x.enc.wallMs / x.clear.wallMs));
const cpu = median(rows.map((x) => x.enc.cpuMs / x.clear.cpuMs));
const extraCpuPerMb = median(rows.map((x) => (x.enc.cpuMs - x.clear.cpuMs) / MB));
console.log(`${MB} MB written and read back once: encrypted / clear, median of ${ROUNDS} rounds: wall ${wall.toFixed(2)}×, CPU ${cpu.toFixed(2)}× (+${extraCpuPerMb.toFixed(2)} ms CPU per MB)`);
fs.rmSync(dir, { recursive: true, force: true });
