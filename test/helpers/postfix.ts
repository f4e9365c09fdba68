/**
 * A throw-away Postfix (Debian's) standing in for another MSSanté operator: its own main.cf and
 * master.cf in a temporary directory (config, queue and data directories all inside it), smtpd on a
 * loopback port, mail for its domain delivered by the `virtual` agent into Maildirs in the same
 * directory, and a health-PKI certificate issued by the test CA the gateways trust.
 *
 * Mutual TLS on both sides:
 * - smtpd (mail coming in from medgate) requires TLS and a client certificate that chains to the
 *   test CA (`smtpd_tls_req_ccert`), and logs it (`smtpd_tls_loglevel = 1`: "Trusted TLS connection
 *   established"; `smtpd_tls_received_header`: the client CN and issuer, "verified OK").
 * - its smtp client (mail going out, e.g. into medgate's relay port) uses `smtp_tls_security_level
 *   = secure` with the test CA as CAfile, and presents the same certificate as client certificate.
 *
 * Revocation: Postfix has no CRL support (it exposes no OpenSSL CRL setting; the Postfix TLS README
 * says so). What it offers instead is a list of refused certificate fingerprints,
 * `check_ccert_access`: `revokeClientFingerprint()` writes one (from the CRL, as an operator's cron
 * job would), and smtpd then refuses that client at RCPT with 554.
 *
 * Postfix must start as root (its master drops to `mail_owner`, here the Debian `postfix` user).
 * Without Postfix, or not as root, `postfixAvailability()` reports why; the suites skip LOUDLY with
 * POSTFIX_NOT_FOUND_BANNER, and MEDGATE_REQUIRE_POSTFIX=1 (set by .ci/run) makes that a failure.
 * Every started instance is stopped by `stop()`, and by a process exit hook if a suite forgot.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadTestCa } from '../../src/pki/index.js';
import { freePort } from './ports.js';

export const POSTFIX_NOT_FOUND_BANNER =
  'POSTFIX NOT FOUND: the MSSanté interoperability tests against Postfix are SKIPPED (install Debian\'s postfix and run as root, or set MEDGATE_POSTFIX_SBIN)';

const SBIN = process.env['MEDGATE_POSTFIX_SBIN'] ?? '/usr/sbin';
const DAEMONS = '/usr/lib/postfix/sbin';

export function locatePostfix(): { ok: true } | { ok: false; reason: string } {
  for (const f of [path.join(SBIN, 'postfix'), path.join(SBIN, 'postconf'), path.join(DAEMONS, 'master'), path.join(DAEMONS, 'smtpd')]) {
    if (!fs.existsSync(f)) return { ok: false, reason: `${f} is missing` };
  }
  if (process.getuid?.() !== 0) return { ok: false, reason: 'Postfix\'s master must be started as root and these tests do not run as root' };
  const owner = spawnSync('getent', ['passwd', 'postfix'], { encoding: 'utf8' });
  if (owner.status !== 0) return { ok: false, reason: 'there is no `postfix` system user for mail_owner' };
  return { ok: true };
}

let bannerShown = false;

/**
 * Whether the Postfix suites can run here. Prints the banner once when not; throws when
 * MEDGATE_REQUIRE_POSTFIX=1, so that CI cannot pass by skipping them.
 */
export function postfixAvailability(): boolean {
  const found = locatePostfix();
  if (found.ok) return true;
  if (process.env['MEDGATE_REQUIRE_POSTFIX'] === '1') throw new Error(`MEDGATE_REQUIRE_POSTFIX=1 but ${POSTFIX_NOT_FOUND_BANNER}: ${found.reason}`);
  if (!bannerShown) {
    bannerShown = true;
    const line = '!'.repeat(100);
    process.stderr.write(`\n${line}\n!!! ${POSTFIX_NOT_FOUND_BANNER}\n!!! ${found.reason}\n${line}\n\n`);
  }
  return false;
}

export interface PostfixOptions {
  /** The test CA (its directory) that issues Postfix's certificate and that Postfix trusts. */
  caDir: string;
  /** The mail domain this Postfix hosts (its certificate names it). */
  domain: string;
  /** Local parts of the mailboxes it hosts (`anne.biologiste` → Maildir `<dir>/mail/<domain>/anne.biologiste/`). */
  mailboxes: string[];
  /** Where its smtp client sends everything not for its own domain (e.g. medgate's relay port), as `[host]:port`. */
  relayhost?: string;
  /** Other domains its smtpd accepts mail for, to pass on to `relayhost` (a lab's software submitting to its operator). */
  relayDomains?: string[];
  /** smtpd's port, when the caller needs it before Postfix runs (e.g. to start a gateway routed to it meanwhile); a free one otherwise. */
  port?: number;
}

export interface PostfixInstance {
  dir: string;
  domain: string;
  /** smtpd's port on 127.0.0.1. */
  port: number;
  certPem: string;
  /** Serial of its certificate (lowercase hex, as `medgate pki revoke` takes it). */
  serial: string;
  fingerprint256: string;
  /** Postfix's own log (maillog_file). */
  log(): string;
  /** The messages delivered to a mailbox, oldest first (raw bytes as Postfix wrote them). */
  delivered(localPart: string): Buffer[];
  /** smtpd refuses this client certificate from now on (Postfix's stand-in for a CRL). */
  revokeClientFingerprint(sha256Hex: string): void;
  /** Flushes Postfix's queue now (after a fault is fixed). */
  flush(): void;
  /** Stops it, keeping its files (connections to its port are refused meanwhile); `resume` starts it again. */
  pause(): void;
  resume(): Promise<void>;
  stop(): void;
}

const running = new Set<PostfixInstance>();
let exitHookInstalled = false;

function postfixCmd(dir: string, ...args: string[]): string {
  return execFileSync(path.join(SBIN, 'postfix'), ['-c', path.join(dir, 'etc'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function masterCf(port: number): string {
  const line = (...f: string[]): string => f.join(' ');
  // service type private unpriv chroot wakeup maxproc command: no chroot (the queue is a temp dir).
  return [
    line(`127.0.0.1:${port}`, 'inet', 'n', '-', 'n', '-', '-', 'smtpd'),
    line('pickup', 'unix', 'n', '-', 'n', '60', '1', 'pickup'),
    line('cleanup', 'unix', 'n', '-', 'n', '-', '0', 'cleanup'),
    line('qmgr', 'unix', 'n', '-', 'n', '300', '1', 'qmgr'),
    line('tlsmgr', 'unix', '-', '-', 'n', '1000?', '1', 'tlsmgr'),
    line('rewrite', 'unix', '-', '-', 'n', '-', '-', 'trivial-rewrite'),
    line('bounce', 'unix', '-', '-', 'n', '-', '0', 'bounce'),
    line('defer', 'unix', '-', '-', 'n', '-', '0', 'bounce'),
    line('trace', 'unix', '-', '-', 'n', '-', '0', 'bounce'),
    line('verify', 'unix', '-', '-', 'n', '-', '1', 'verify'),
    line('flush', 'unix', 'n', '-', 'n', '1000?', '0', 'flush'),
    line('proxymap', 'unix', '-', '-', 'n', '-', '-', 'proxymap'),
    line('proxywrite', 'unix', '-', '-', 'n', '-', '1', 'proxymap'),
    line('smtp', 'unix', '-', '-', 'n', '-', '-', 'smtp'),
    line('relay', 'unix', '-', '-', 'n', '-', '-', 'smtp'),
    line('showq', 'unix', 'n', '-', 'n', '-', '-', 'showq'),
    line('error', 'unix', '-', '-', 'n', '-', '-', 'error'),
    line('retry', 'unix', '-', '-', 'n', '-', '-', 'error'),
    line('discard', 'unix', '-', '-', 'n', '-', '-', 'discard'),
    line('local', 'unix', '-', 'n', 'n', '-', '-', 'local'),
    line('virtual', 'unix', '-', 'n', 'n', '-', '-', 'virtual'),
    line('lmtp', 'unix', '-', '-', 'n', '-', '-', 'lmtp'),
    line('anvil', 'unix', '-', '-', 'n', '-', '1', 'anvil'),
    line('scache', 'unix', '-', '-', 'n', '-', '1', 'scache'),
    line('postlog', 'unix-dgram', 'n', '-', 'n', '-', '1', 'postlogd'),
    '',
  ].join('\n');
}

function mainCf(o: { dir: string; domain: string; relayhost?: string; relayDomains?: string[] }): string {
  const etc = path.join(o.dir, 'etc');
  const uid = execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).trim();
  const gid = execFileSync('id', ['-g', 'postfix'], { encoding: 'utf8' }).trim();
  const settings: Record<string, string> = {
    compatibility_level: '3.6',
    config_directory: etc,
    queue_directory: path.join(o.dir, 'queue'),
    data_directory: path.join(o.dir, 'data'),
    meta_directory: '/etc/postfix',
    shlib_directory: '/usr/lib/postfix',
    daemon_directory: DAEMONS,
    command_directory: SBIN,
    mail_owner: 'postfix',
    setgid_group: 'postdrop',
    maillog_file: path.join(o.dir, 'maillog'),
    maillog_file_prefixes: o.dir,
    myhostname: `mx.${o.domain}`,
    mydomain: o.domain,
    myorigin: o.domain,
    mydestination: '',
    mynetworks: '127.0.0.255/32',
    inet_interfaces: '127.0.0.1',
    inet_protocols: 'ipv4',
    alias_maps: '',
    alias_database: '',
    local_recipient_maps: '',
    biff: 'no',
    smtputf8_enable: 'no',
    // The mailboxes: virtual(8) into Maildirs under <dir>/mail, owned by the postfix user.
    virtual_mailbox_domains: o.domain,
    virtual_mailbox_base: path.join(o.dir, 'mail'),
    virtual_mailbox_maps: `texthash:${path.join(etc, 'vmailbox')}`,
    virtual_uid_maps: `static:${uid}`,
    virtual_gid_maps: `static:${gid}`,
    virtual_minimum_uid: '1',
    smtpd_relay_restrictions: 'reject_unauth_destination',
    smtpd_recipient_restrictions: `check_ccert_access texthash:${path.join(etc, 'revoked-ccerts')}, permit`,
    // One connection per daemon process: a texthash table is read when the process starts, and
    // `postfix reload` only asks idle processes to exit, so one could still take the next
    // connection with the old revocation list (CI saw this once). A fresh smtpd per connection
    // always reads the current list.
    max_use: '1',
    // smtpd: TLS required, with a client certificate that chains to the test CA.
    smtpd_tls_cert_file: path.join(etc, 'postfix.crt.pem'),
    smtpd_tls_key_file: path.join(etc, 'postfix.key.pem'),
    smtpd_tls_CAfile: path.join(etc, 'ca.pem'),
    smtpd_tls_security_level: 'encrypt',
    smtpd_tls_ask_ccert: 'yes',
    smtpd_tls_req_ccert: 'yes',
    smtpd_tls_ccert_verifydepth: '5',
    smtpd_tls_mandatory_protocols: '>=TLSv1.2',
    smtpd_tls_protocols: '>=TLSv1.2',
    smtpd_tls_loglevel: '1',
    smtpd_tls_received_header: 'yes',
    smtpd_tls_fingerprint_digest: 'sha256',
    // smtp client: verified TLS to the next hop, our certificate as client certificate.
    smtp_tls_security_level: 'secure',
    smtp_tls_secure_cert_match: 'nexthop, dot-nexthop, hostname',
    smtp_tls_CAfile: path.join(etc, 'ca.pem'),
    smtp_tls_cert_file: path.join(etc, 'postfix.crt.pem'),
    smtp_tls_key_file: path.join(etc, 'postfix.key.pem'),
    smtp_tls_mandatory_protocols: '>=TLSv1.2',
    smtp_tls_loglevel: '1',
    relayhost: o.relayhost ?? '',
    // Names through /etc/hosts (getaddrinfo), not DNS: the tests run without a resolver.
    smtp_host_lookup: 'native',
    relay_domains: (o.relayDomains ?? []).join(' '),
    // Tests want answers in seconds, not Postfix's production minutes.
    queue_run_delay: '1s',
    minimal_backoff_time: '1s',
    maximal_backoff_time: '2s',
    smtp_connect_timeout: '5s',
  };
  return `${Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n')}\n`;
}

const MANIFEST = '/etc/postfix/postfix-files';

/**
 * The queue directory's subdirectories as Postfix's own manifest (postfix-files) lists them, with
 * their owner, group and mode: what `postfix set-permissions` makes, without its seconds of shell
 * (it also walks every installed file). Without the manifest, set-permissions itself.
 */
function createQueueDirectories(dir: string): void {
  if (!fs.existsSync(MANIFEST)) { postfixCmd(dir, 'set-permissions'); return; }
  const ids = (flag: '-u' | '-g', who: string): number => Number(execFileSync('id', [flag, who], { encoding: 'utf8' }).trim());
  const owners: Record<string, number> = { root: 0, $mail_owner: ids('-u', 'postfix') };
  const groups: Record<string, number> = { '-': 0, $setgid_group: Number(execFileSync('getent', ['group', 'postdrop'], { encoding: 'utf8' }).split(':')[2]) };
  for (const line of fs.readFileSync(MANIFEST, 'utf8').split('\n')) {
    const [name, type, owner, group, mode] = line.split(':');
    if (type !== 'd' || !name?.startsWith('$queue_directory/')) continue;
    const d = path.join(dir, 'queue', name.slice('$queue_directory/'.length));
    fs.mkdirSync(d, { recursive: true });
    fs.chownSync(d, owners[owner!] ?? ids('-u', owner!), groups[group!] ?? Number(execFileSync('getent', ['group', group!], { encoding: 'utf8' }).split(':')[2]));
    fs.chmodSync(d, parseInt(mode!, 8));
  }
}

/** Starts a Postfix for `domain`, with a fresh certificate from the test CA (profile `gateway`). */
export async function startPostfix(o: PostfixOptions): Promise<PostfixInstance> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-postfix-'));
  fs.chmodSync(dir, 0o755);
  const etc = path.join(dir, 'etc');
  for (const d of [etc, path.join(dir, 'queue'), path.join(dir, 'data'), path.join(dir, 'mail')]) fs.mkdirSync(d, { mode: 0o755 });
  execFileSync('chown', ['postfix:postfix', path.join(dir, 'data'), path.join(dir, 'mail')]);
  const ca = await loadTestCa(o.caDir);
  const issued = await ca.issue({
    profile: 'gateway', commonName: `mx.${o.domain}`,
    dnsNames: [o.domain, `mx.${o.domain}`, 'localhost'], ipAddresses: ['127.0.0.1'],
  });
  fs.writeFileSync(path.join(etc, 'postfix.crt.pem'), issued.certPem);
  fs.writeFileSync(path.join(etc, 'postfix.key.pem'), issued.keyPem, { mode: 0o600 });
  fs.writeFileSync(path.join(etc, 'ca.pem'), ca.certPem);
  fs.writeFileSync(path.join(etc, 'vmailbox'), o.mailboxes.map((m) => `${m}@${o.domain} ${o.domain}/${m}/\n`).join(''));
  fs.writeFileSync(path.join(etc, 'revoked-ccerts'), '');
  const port = o.port ?? await freePort();
  fs.writeFileSync(path.join(etc, 'main.cf'), mainCf({ dir, domain: o.domain, ...(o.relayhost ? { relayhost: o.relayhost } : {}), ...(o.relayDomains ? { relayDomains: o.relayDomains } : {}) }));
  fs.writeFileSync(path.join(etc, 'master.cf'), masterCf(port));
  // The queue's subdirectories with Postfix's own ownership and modes, then start. postfix-script
  // skips its integrity checks (check-fatal, check-warn: seconds of postconf and find runs on a
  // loaded machine) when `quick-start` is present; the layout they check was just made.
  createQueueDirectories(dir);
  fs.writeFileSync(path.join(dir, 'queue', 'quick-start'), '');
  postfixCmd(dir, 'start');
  const instance: PostfixInstance = {
    dir, domain: o.domain, port, certPem: issued.certPem, serial: issued.serial, fingerprint256: issued.fingerprint256,
    log: () => { try { return fs.readFileSync(path.join(dir, 'maillog'), 'utf8'); } catch { return ''; } },
    delivered(localPart) {
      const box = path.join(dir, 'mail', o.domain, localPart, 'new');
      if (!fs.existsSync(box)) return [];
      return fs.readdirSync(box).sort().map((f) => fs.readFileSync(path.join(box, f)));
    },
    revokeClientFingerprint(sha256Hex) {
      const hex = sha256Hex.replace(/[^0-9a-f]/gi, '').toUpperCase().match(/../g)!.join(':');
      fs.appendFileSync(path.join(etc, 'revoked-ccerts'), `${hex} REJECT 5.7.1 client certificate revoked\n`);
      // texthash tables are read when a daemon starts, and a `reload` leaves a busy smtpd (a client's
      // pooled connection, such as medgate's) serving with the old table: stopped and started again,
      // every session ends (`quick-stop` keeps the next start's integrity checks skipped; `start`
      // returns once master listens).
      postfixCmd(dir, 'quick-stop');
      postfixCmd(dir, 'start');
    },
    flush() { postfixCmd(dir, 'flush'); },
    pause() { postfixCmd(dir, 'quick-stop'); },
    async resume() { postfixCmd(dir, 'start'); await waitForPort(port); },
    stop() {
      if (!running.delete(instance)) return;
      try { postfixCmd(dir, 'stop'); } catch { try { postfixCmd(dir, 'abort'); } catch { /* already down */ } }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  running.add(instance);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => { for (const p of [...running]) p.stop(); });
  }
  await waitForPort(port);
  return instance;
}

async function waitForPort(port: number, timeoutMs = 15_000): Promise<void> {
  const net = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`Postfix did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
