/**
 * The SMTP load the benches share (bench/smtp.bench.ts, bench/store.bench.ts): the bench message
 * (20 KB text + 100 KB PDF), closed-loop and open-loop drivers over real nodemailer connections,
 * and per-process CPU and RSS read from /proc.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import nodemailer from 'nodemailer';
import { PAUL } from '../../test/smtp/relay-fixture.js';

export function buildMessage(n: number, to: string[], body = randomBytes(15 * 1024).toString('base64').slice(0, 20 * 1024), pdfBytes = 100 * 1024): string {
  const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(pdfBytes)]).toString('base64').replace(/.{76}/g, '$&\r\n');
  const text = body.replace(/.{76}/g, '$&\r\n');
  return [
    `From: ${PAUL}`, `To: ${to.join(', ')}`, `Subject: Bench ${n}`, `Message-ID: <bench-${n}-${Date.now()}@cabinet-antony.medgate.test>`,
    'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '', '--b', 'Content-Type: text/plain; charset=utf-8', '', text,
    '--b', 'Content-Type: application/pdf; name="cr.pdf"', 'Content-Disposition: attachment; filename="cr.pdf"', 'Content-Transfer-Encoding: base64', '', pdf, '--b--', '',
  ].join('\r\n');
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** CPU seconds (user + system, all threads) a process has used so far, from /proc (Linux). */
export function cpuSecondsOf(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks: USER_HZ is 100 on Linux
}

/** CPU seconds per thread of a process, summed by thread name (main, workers, libuv pool, V8 helpers). */
export function threadCpuOf(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = tid === String(pid) ? 'main' : `${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}#${tid}`;
      const f = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / 100);
    } catch { /* the thread ended */ }
  }
  return out;
}

/** Peak and current RSS of a process, from /proc (Linux). */
export function rssOf(pid: number): { peakMb: number; nowMb: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN);
  return { peakMb: Math.round(kb('VmHWM') / 1024), nowMb: Math.round(kb('VmRSS') / 1024) };
}

export interface DriveResult { seconds: number; latencies: number[]; failures: number }

/**
 * `opts.clients` pooled nodemailer transports (one connection and one login each) send `messages` as fast
 * as they are accepted. With `warmup` messages, the clients first send those on the same
 * connections, wait for each other and for `onMeasureStart` (which lets the relay drain the warm-up
 * backlog and takes the CPU snapshots), and only then start the clock: the measured part is the
 * steady state (logins done, code JIT-compiled), the warm-up is returned apart.
 */
export async function drive(port: number, opts: { auth?: { user: string; pass: string }; ca?: string; tls: boolean; clients: number; messagesPerLogin?: number }, to: string[], messages: string[], warmup: string[] = [], onMeasureStart?: () => Promise<void>): Promise<DriveResult & { warmup: DriveResult; transports: nodemailer.Transporter[]; close(): void }> {
  const phase = (list: string[]) => ({ list, next: 0, latencies: [] as number[], failures: 0, start: 0, end: 0 });
  const warm = phase(warmup);
  const measured = phase(messages);
  let arrived = 0;
  let releaseAll: () => void = () => {};
  const allWarm = new Promise<void>((resolve) => { releaseAll = resolve; });
  const send = async (transport: nodemailer.Transporter, p: ReturnType<typeof phase>) => {
    while (p.next < p.list.length) {
      const raw = p.list[p.next++]!;
      const t0 = performance.now();
      try {
        await transport.sendMail({ envelope: { from: PAUL, to }, raw });
        p.latencies.push(performance.now() - t0);
      } catch { p.failures++; }
    }
  };
  warm.start = performance.now();
  const transports: nodemailer.Transporter[] = [];
  await Promise.all(Array.from({ length: opts.clients }, async () => {
    const transport = nodemailer.createTransport({
      host: '127.0.0.1', port, secure: false, pool: true, maxConnections: 1, maxMessages: opts.messagesPerLogin ?? Infinity,
      ...(opts.tls ? { requireTLS: true, tls: { ca: opts.ca, servername: 'localhost' } } : { ignoreTLS: true }),
      ...(opts.auth ? { auth: opts.auth } : {}),
    });
    transports.push(transport);
    await send(transport, warm);
    if (++arrived === opts.clients) {
      warm.end = performance.now();
      await onMeasureStart?.();
      measured.start = performance.now();
      releaseAll();
    }
    await allWarm;
    await send(transport, measured);
  }));
  measured.end = performance.now();
  const result = (p: ReturnType<typeof phase>): DriveResult => ({ seconds: (p.end - p.start) / 1000, latencies: p.latencies.sort((a, b) => a - b), failures: p.failures });
  return { ...result(measured), warmup: result(warm), transports, close: () => { for (const t of transports) t.close(); } };
}

/**
 * Open-loop load: message i is submitted at start + i/rate seconds whatever the previous ones are
 * doing, on whichever of the (already logged-in) connections is free; if none is, it waits for one.
 * Its latency is counted from its scheduled time to the 250, so a backlog is not hidden (no
 * coordinated omission).
 */
/** Closed loop on already logged-in transports: each sends the next of `list` as soon as its last is accepted. */
export async function burst(transports: nodemailer.Transporter[], to: string[], list: string[]): Promise<DriveResult> {
  let next = 0;
  let failures = 0;
  const latencies: number[] = [];
  const start = performance.now();
  await Promise.all(transports.map(async (t) => {
    while (next < list.length) {
      const raw = list[next++]!;
      const t0 = performance.now();
      try {
        await t.sendMail({ envelope: { from: PAUL, to }, raw });
        latencies.push(performance.now() - t0);
      } catch { failures++; }
    }
  }));
  return { seconds: (performance.now() - start) / 1000, latencies: latencies.sort((a, b) => a - b), failures };
}

/** The median of `values` (NaN for none). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (!sorted.length) return NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function pace(transports: nodemailer.Transporter[], to: string[], list: string[], rate: number): Promise<DriveResult> {
  const idle = [...transports];
  const waiting: Array<(t: nodemailer.Transporter) => void> = [];
  const acquire = (): Promise<nodemailer.Transporter> => (idle.length > 0 ? Promise.resolve(idle.pop()!) : new Promise((r) => waiting.push(r)));
  const release = (t: nodemailer.Transporter): void => { const w = waiting.shift(); if (w) w(t); else idle.push(t); };
  const latencies: number[] = [];
  let failures = 0;
  const jobs: Promise<void>[] = [];
  const start = performance.now();
  for (const [i, raw] of list.entries()) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    jobs.push((async () => {
      const t = await acquire();
      try {
        await t.sendMail({ envelope: { from: PAUL, to }, raw });
        latencies.push(performance.now() - due);
      } catch { failures++; } finally { release(t); }
    })());
  }
  await Promise.all(jobs);
  return { seconds: (performance.now() - start) / 1000, latencies: latencies.sort((a, b) => a - b), failures };
}

