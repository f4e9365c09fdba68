import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import type { z } from 'zod';
import { MedgateError } from '../errors.js';
import { configSchema, type MedgateConfig } from './schema.js';

/** The embedded default shipped with medgate: SQLite, local test PKI, demo practice. */
export function defaultConfigPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  return path.resolve(here, '..', '..', 'config', 'default.yaml');
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  const key = issue.path.length ? issue.path.join('.') : '(top level)';
  let value: unknown = raw;
  for (const p of issue.path) value = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[p as string | number] : undefined;
  const shown = value === undefined ? 'missing' : JSON.stringify(value);
  let expected = issue.message;
  if (issue.code === 'unrecognized_keys') {
    return `${key}: unknown setting(s) ${issue.keys.map((k) => `"${k}"`).join(', ')} — see docs/configuration.md for the valid keys`;
  }
  if (issue.code === 'invalid_value' && 'values' in issue) expected = `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return `${key}: got ${shown}; expected ${expected}`;
}

/**
 * Reads, validates and resolves a config file. Every failure is a MedgateError whose message names
 * the key, the value found and what is expected, so `medgate` can print it without a stack trace.
 */
export function loadConfig(file?: string): MedgateConfig {
  const configFile = path.resolve(file ?? process.env.MEDGATE_CONFIG ?? defaultConfigPath());
  let text: string;
  try {
    text = fs.readFileSync(configFile, 'utf8');
  } catch (err) {
    throw new MedgateError('CONFIG_UNREADABLE', `cannot read config file ${configFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = YAML.parse(text);
  } catch (err) {
    throw new MedgateError('CONFIG_SYNTAX', `config file ${configFile} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => '  - ' + describeIssue(i, raw));
    throw new MedgateError('CONFIG_INVALID', `invalid config file ${configFile}:\n${lines.join('\n')}`);
  }
  const base = path.dirname(configFile);
  const abs = (p: string): string => path.resolve(base, p);
  const c = parsed.data;
  return {
    ...c,
    configFile,
    domain: c.domain.toLowerCase(),
    dataDir: abs(c.dataDir),
    keysDir: abs(c.keysDir ?? c.dataDir),
    pki: { ...c.pki, caDir: abs(c.pki.caDir), trustAnchors: c.pki.trustAnchors.map(abs), crls: c.pki.crls.map(abs) },
    tls: { ...c.tls, certFile: c.tls.certFile ? abs(c.tls.certFile) : undefined, keyFile: c.tls.keyFile ? abs(c.tls.keyFile) : undefined },
    demo: { ...c.demo, file: c.demo.file ? abs(c.demo.file) : undefined },
    console: { ...c.console, recordServerPasswordFile: c.console.recordServerPasswordFile ? abs(c.console.recordServerPasswordFile) : undefined },
  };
}
