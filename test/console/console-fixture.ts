/**
 * What the record console's browser suites share (test/console/console.test.ts,
 * test/console/record-story.test.ts): a real `medgate serve` with `listen.console` and the record
 * server's password file, a real Chromium driven by playwright-core beside it, logging in through
 * the console's form, screenshots, HTTPS requests trusting the test CA, and submission as a doctor.
 */
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import nodemailer from 'nodemailer';
import { chromium, type Browser, type Page } from 'playwright-core';
import YAML from 'yaml';
import { ROOT, runCli, startServe, tempDir, type CliResult, type ServeProcess } from '../helpers/gateway.js';
import { prepareForServe, type AccountSpec } from '../helpers/in-process-gateway.js';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The CLI's result when it succeeded; otherwise an error with what it said on stderr. */
export async function must(p: Promise<CliResult>, what: string): Promise<CliResult> {
  const r = await p;
  if (r.code !== 0) throw new Error(`${what} failed (${r.code}): ${r.stderr}`);
  return r;
}

export interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One HTTPS request (`options` carry the CA, servername, any client certificate and headers); `body` is sent when given. */
export function httpsRequest(url: string, options: https.RequestOptions, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface ConsoleGatewayOptions {
  /** Names the temp folder (medgate-<name>-…) and the screenshots' folder (test-artifacts/<name>, git-ignored). */
  name: string;
  domain: string;
  accounts: AccountSpec[];
  /** The record server's account (one of `accounts`): the console reads the record as it. */
  recordServer: string;
  /** More of the config's `console` section (beside recordServer, its password file and no operators). */
  console?: Record<string, unknown>;
  /** Further changes to the config before it is served (filing, security, …). */
  configure?: (yaml: Record<string, Record<string, unknown>>) => void;
}

export interface ConsoleGateway {
  dir: string;
  config: string;
  prepared: Awaited<ReturnType<typeof prepareForServe>>;
  serve: ServeProcess;
  browser: Browser;
  caPem: string;
  /** The console's origin: https://localhost:<port>. */
  base: string;
  /** The CLI on this gateway's config. */
  cli(...args: string[]): Promise<CliResult>;
  /** A fresh browser context logged in as `user` through the console's form, on /recherche. */
  browserLogin(user: string): Promise<Page>;
  /** A full-page screenshot to test-artifacts/<name>/<shot>.png. */
  shot(page: Page, shot: string): Promise<Buffer>;
  /** Submits `raw` as `from` (its password from `accounts`) on the submission port with STARTTLS; to the record server unless `to` is given. */
  submit(from: string, raw: Buffer, to?: string[]): Promise<void>;
  /** Closes the browser, stops serve, removes the folder. */
  stop(): Promise<void>;
}

/** Fails loudly: a browser suite without a browser must fail, never pass by skipping. */
function requireChromium(): void {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium NOT FOUND at ${CHROMIUM}: install Debian's chromium (.ci/run does) or set CHROMIUM`);
}

function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
}

/**
 * Set up as `medgate init`, the directory import and `user add --cert-out` would, through the
 * services those commands call (one process start instead of several); then served by a real
 * `medgate serve` with the console on, and Chromium launched while serve starts.
 */
export async function startConsoleGateway(o: ConsoleGatewayOptions): Promise<ConsoleGateway> {
  requireChromium();
  const password = (user: string): string => {
    const account = o.accounts.find((a) => a.address === user);
    if (!account) throw new Error(`no account ${user} in this console gateway`);
    return account.password;
  };
  const shots = path.join(ROOT, 'test-artifacts', o.name);
  fs.mkdirSync(shots, { recursive: true });
  const dir = tempDir(`medgate-${o.name}-`);
  let serve: ServeProcess | undefined;
  let browser: Browser | undefined;
  try {
    const prepared = await prepareForServe({ store: 'sqlite', dir, domain: o.domain, whitelist: false, accounts: o.accounts });
    const config = prepared.configFile;
    const yaml = YAML.parse(fs.readFileSync(config, 'utf8')) as Record<string, Record<string, unknown>>;
    yaml.listen!.console = 0;
    yaml.console = { recordServer: o.recordServer, recordServerPasswordFile: './rmp.password', operators: [], ...o.console };
    o.configure?.(yaml);
    fs.writeFileSync(config, YAML.stringify(yaml));
    fs.writeFileSync(path.join(dir, 'rmp.password'), password(o.recordServer) + '\n', { mode: 0o600 });
    const caPem = fs.readFileSync(path.join(dir, 'certs', 'ca.pem'), 'utf8');
    const started = await Promise.allSettled([startServe(config), launchChromium()]);
    if (started[0].status === 'fulfilled') serve = started[0].value;
    if (started[1].status === 'fulfilled') browser = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const base = `https://localhost:${serve!.ports.console}`;
    const g: ConsoleGateway = {
      dir, config, prepared, serve: serve!, browser: browser!, caPem, base,
      cli: (...args) => runCli([...args, '--config', config]),
      async browserLogin(user) {
        const context = await g.browser.newContext({ ignoreHTTPSErrors: true, locale: 'fr-FR', viewport: { width: 1200, height: 900 } });
        const page = await context.newPage();
        await page.goto(`${base}/`);
        await page.getByLabel('Adresse de messagerie sécurisée').fill(user);
        await page.getByLabel('Mot de passe').fill(password(user));
        await page.getByRole('button', { name: 'Se connecter', exact: true }).click();
        await page.waitForURL(`${base}/recherche`);
        return page;
      },
      shot: (page, shot) => page.screenshot({ path: path.join(shots, `${shot}.png`), fullPage: true }),
      async submit(from, raw, to = [o.recordServer]) {
        const t = nodemailer.createTransport({
          host: '127.0.0.1', port: g.serve.ports.smtpSubmission!, secure: false, requireTLS: true,
          auth: { user: from, pass: password(from) }, tls: { ca: caPem, servername: 'localhost' },
        });
        try { await t.sendMail({ envelope: { from, to }, raw }); } finally { t.close(); }
      },
      async stop() {
        try {
          await g.browser.close();
        } finally {
          try { await g.serve.stop(); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
        }
      },
    };
    return g;
  } catch (e) {
    await browser?.close();
    await serve?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}
