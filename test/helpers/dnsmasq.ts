/**
 * A throw-away dnsmasq (Debian's dnsmasq-base) as a real DNS server on a loopback port, for the
 * tests of MX routing (test/mssante/mx-route.test.ts): the records are given on its command line,
 * and nothing of the machine's is read or served (no /etc/dnsmasq.conf, /etc/hosts or
 * /etc/resolv.conf, no upstream server).
 *
 * - `mx`: `--mx-host=domain,host,pref` — the MX records of a domain;
 * - `hosts`: `--host-record=name,address` — A (and AAAA) records, nothing else for that name
 *   (an AAAA query for an IPv4-only name is answered NODATA);
 * - `nxdomains`: `--local=/domain/` — dnsmasq answers that domain and its subdomains from what it
 *   was given only: NXDOMAIN for any other name there;
 * - any name not covered by the above is answered REFUSED (no upstream to ask): a DNS failure, as
 *   a resolver in trouble gives.
 *
 * `--no-daemon` keeps it in the foreground as our child: it is stopped through its process, writes no
 * pid file and keeps its user id (man dnsmasq: "don't write a pid file, don't change user id"), so
 * running as root needs no `--user`. It logs every query to stderr (`--log-queries`), kept for
 * diagnostics.
 *
 * Without dnsmasq, `dnsmasqAvailability()` prints a loud banner and the suites skip; with
 * MEDGATE_REQUIRE_POSTFIX=1 (set by .ci/run, which installs dnsmasq-base beside postfix) it throws,
 * so that CI cannot pass by skipping — as test/helpers/postfix.ts does for a missing Postfix.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { promises as dns } from 'node:dns';
import fs from 'node:fs';
import { freePort } from './ports.js';

export const DNSMASQ_NOT_FOUND_BANNER =
  'DNSMASQ NOT FOUND: the MX routing tests against a real DNS server are SKIPPED (install Debian\'s dnsmasq-base, or set MEDGATE_DNSMASQ)';

const BINARY = process.env['MEDGATE_DNSMASQ'] ?? '/usr/sbin/dnsmasq';

let bannerShown = false;

/** Whether dnsmasq can run here. Prints the banner once when not; throws when MEDGATE_REQUIRE_POSTFIX=1 (CI). */
export function dnsmasqAvailability(): boolean {
  if (fs.existsSync(BINARY)) return true;
  const reason = `${BINARY} is missing`;
  if (process.env['MEDGATE_REQUIRE_POSTFIX'] === '1') throw new Error(`MEDGATE_REQUIRE_POSTFIX=1 but ${DNSMASQ_NOT_FOUND_BANNER}: ${reason}`);
  if (!bannerShown) {
    bannerShown = true;
    const line = '!'.repeat(100);
    process.stderr.write(`\n${line}\n!!! ${DNSMASQ_NOT_FOUND_BANNER}\n!!! ${reason}\n${line}\n\n`);
  }
  return false;
}

export interface DnsmasqOptions {
  /** MX records: domain, mail host, preference. */
  mx?: { domain: string; host: string; preference?: number }[];
  /** Address records. */
  hosts?: { name: string; address: string }[];
  /** Domains answered NXDOMAIN for every name not given above. */
  nxdomains?: string[];
}

export interface DnsmasqInstance {
  /** `127.0.0.1:<port>`, as `dns.servers` takes it. */
  server: string;
  port: number;
  /** What it logged (the queries it answered, and how). */
  log(): string;
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** A loopback port free for TCP (freePort's check) and for UDP too: dnsmasq binds both. */
async function freeDnsPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    const udpFree = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
}

export async function startDnsmasq(o: DnsmasqOptions): Promise<DnsmasqInstance> {
  const port = await freeDnsPort();
  const args = [
    '--no-daemon', `--port=${port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
    '--no-resolv', '--no-hosts', '--conf-file=/dev/null', '--log-queries', '--log-facility=-',
    ...(o.mx ?? []).map((m) => `--mx-host=${m.domain},${m.host},${m.preference ?? 10}`),
    ...(o.hosts ?? []).map((h) => `--host-record=${h.name},${h.address}`),
    ...(o.nxdomains ?? []).map((d) => `--local=/${d}/`),
  ];
  const child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b: Buffer) => { output += b.toString('utf8'); });
  child.stderr.on('data', (b: Buffer) => { output += b.toString('utf8'); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', (err) => { output += `\nspawn failed: ${err.message}`; });
  running.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const c of running) c.kill('SIGKILL'); });
  }
  const stop = async (): Promise<void> => {
    if (!running.delete(child)) return;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  // Ready when it answers: a query for a name it was not given is answered (REFUSED) once it listens.
  const resolver = new dns.Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      running.delete(child);
      throw new Error(`dnsmasq exited (${child.exitCode ?? child.signalCode}) before answering:\n${output}`);
    }
    const answered = await resolver.resolveTxt('readiness.probe.invalid').then(() => true, (err: { code?: string }) => err.code !== 'ETIMEOUT' && err.code !== 'ECONNREFUSED');
    if (answered) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`dnsmasq did not answer on 127.0.0.1:${port}:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { server: `127.0.0.1:${port}`, port, log: () => output, stop };
}
