import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import type { GatewayContext } from '../context.js';
import { MedgateError } from '../errors.js';

const demoSchema = z.strictObject({
  directory: z.strictObject({
    extraction: z.string().optional(),
    whitelist: z.string().optional(),
  }).default({}),
  accounts: z.array(z.strictObject({
    address: z.string(),
    kind: z.enum(['person', 'application', 'rmp']),
    rpps: z.string().optional(),
    adeli: z.string().optional(),
    name: z.string().optional(),
    password: z.string(),
  })).default([]),
});

export interface DemoAccount {
  address: string;
  kind: string;
  password: string;
}

/** Creates the demo practice (directory, whitelist, accounts) described by the demo file. */
export async function createDemoPractice(ctx: GatewayContext, file: string): Promise<DemoAccount[]> {
  let raw: unknown;
  try {
    raw = YAML.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MedgateError('DEMO_UNREADABLE', `cannot read the demo file ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = demoSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MedgateError('DEMO_INVALID', `invalid demo file ${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  const demo = parsed.data;
  const base = path.dirname(file);
  if (demo.directory.extraction && fs.existsSync(path.resolve(base, demo.directory.extraction))) {
    await ctx.directory.importAnsFile(path.resolve(base, demo.directory.extraction), 'system');
  }
  if (demo.directory.whitelist && fs.existsSync(path.resolve(base, demo.directory.whitelist))) {
    await ctx.directory.importWhitelistFile(path.resolve(base, demo.directory.whitelist), 'system');
  }
  const created: DemoAccount[] = [];
  for (const a of demo.accounts) {
    if (await ctx.accounts.get(a.address)) continue;
    await ctx.accounts.create({ address: a.address, kind: a.kind, password: a.password, rpps: a.rpps, adeli: a.adeli, name: a.name, actor: 'system' });
    created.push({ address: a.address, kind: a.kind, password: a.password });
  }
  return created;
}

export function demoBanner(ctx: GatewayContext, accounts: DemoAccount[]): string {
  const l = ctx.config.listen;
  const lines = [
    '',
    'medgate demo practice ready — demo accounts (public demo passwords, for testing only):',
    ...accounts.map((a) => `  ${a.address.padEnd(44)} ${a.kind.padEnd(12)} password: ${a.password}`),
    '',
    'Point Thunderbird or Outlook at it (accept the test CA certificate certs/ca.pem, or import it):',
    `  incoming IMAP  ${ctx.config.hostname}:${l.imap} STARTTLS  or  ${l.imapTls} SSL/TLS, normal password, user name = full address`,
    `  outgoing SMTP  ${ctx.config.hostname}:${l.smtpSubmission} STARTTLS  or  ${l.smtpSubmissionTls} SSL/TLS, normal password, user name = full address`,
    `  health         http://${l.host}:${l.http}/healthz   metrics http://${l.host}:${l.http}/metrics`,
    'See docs/clients.md for step-by-step client set-up.',
    '',
  ];
  return lines.join('\n');
}
