import readline from 'node:readline';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import type { MedgateConfig } from '../config/schema.js';
import type { GatewayContext } from '../context.js';
import { MedgateError, isMedgateError } from '../errors.js';

export function addConfigOption(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'config file (default: $MEDGATE_CONFIG or the embedded config/default.yaml)');
}

/** The config file named on this command or any parent command. */
export function configFileOf(cmd: Command): string | undefined {
  for (let c: Command | null = cmd; c; c = c.parent) {
    const v = c.opts<{ config?: string }>().config;
    if (v) return v;
  }
  return undefined;
}

/**
 * The config of this command. The config loader (zod, yaml) and the context (the store, the PKI, the
 * keys) are loaded by the commands that run, not by every `medgate` start: `--help` needs neither.
 */
export async function configOf(cmd: Command): Promise<MedgateConfig> {
  const { loadConfig } = await import('../config/load.js');
  return loadConfig(configFileOf(cmd));
}

/** Runs an operator command with a context whose logs go to stderr, so stdout stays for results. */
export async function withContext<T>(cmd: Command, fn: (ctx: GatewayContext) => Promise<T>): Promise<T> {
  const config = await configOf(cmd);
  const { createContext } = await import('../context.js');
  const ctx = await createContext({ ...config, log: { ...config.log, level: config.log.level === 'info' ? 'warn' : config.log.level } }, { logDestination: 'stderr' });
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}

let pipedLines: Promise<string[]> | undefined;

/** Piped standard input, read once, as lines: each secret asked for takes the next one. */
function nextPipedLine(): Promise<string | undefined> {
  pipedLines ??= (async () => {
    const lines: string[] = [];
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    for await (const line of rl) lines.push(line);
    return lines;
  })();
  return pipedLines.then((lines) => lines.shift());
}

/**
 * Reads a secret: from a TTY without echo, or the next line of piped stdin (for scripts: a command
 * that asks two secrets takes the first two lines, in the order its help gives).
 */
export async function promptSecret(question: string, missing = 'no password given: use --password or type it on standard input'): Promise<string> {
  if (!process.stdin.isTTY) {
    const line = await nextPipedLine();
    if (line === undefined) throw new MedgateError('PASSWORD_MISSING', missing);
    return line;
  }
  const muted = new Writable({ write: (_c, _e, cb) => cb() });
  process.stderr.write(question);
  const rl = readline.createInterface({ input: process.stdin, output: muted, terminal: true });
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

/**
 * Prints a MedgateError as one clear line (no stack) and sets its exit code: 1, or the kind's own
 * (a database that cannot be reached: src/errors.ts STORE_CONNECT_FAILURES). Anything else is a
 * bug: `internal error`, exit 70 (EX_SOFTWARE).
 */
export function reportError(err: unknown): void {
  if (isMedgateError(err)) {
    process.stderr.write(`medgate: ${err.message} [${err.code}]\n`);
    process.exitCode = err.exitCode;
    return;
  }
  const e = err as Error;
  process.stderr.write(`medgate: internal error: ${e?.message ?? String(err)}\n`);
  if (process.env.MEDGATE_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  else process.stderr.write('medgate: run again with MEDGATE_DEBUG=1 for details, and report it\n');
  process.exitCode = 70;
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : text + '\n');
}
