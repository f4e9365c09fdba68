#!/usr/bin/env -S node --single-threaded-gc --incremental-marking-soft-trigger=80 --incremental-marking-hard-trigger=95 --heap-growing-percent=300 --expose-gc --max-semi-space-size=16
/**
 * The `medgate` bin. The shebang takes whatever `node` is first in PATH, which on a machine whose
 * own Node is 20 is not the supported line, and the native SQLite addon is built for Node 24 by
 * `npm ci`. So before loading anything else: if this Node is not the supported line and the
 * installation has its own Node 24 (node_modules/node), run the same command with it; otherwise warn
 * with the version, and go on.
 */
import { spawn } from 'node:child_process';
import { bundledSupportedNode, unsupportedNodeWarning } from './runtime/node-version.js';

const supported = bundledSupportedNode(import.meta.url);
if (supported && process.env['MEDGATE_NO_REEXEC'] !== '1') {
  const child = spawn(supported, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, MEDGATE_NO_REEXEC: '1' },
  });
  // The child does the work: signals a service manager or a terminal sends reach it through us.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    else process.exit(code ?? 1);
  });
  child.on('error', (err) => {
    process.stderr.write(`medgate: could not start ${supported}: ${err.message}\n`);
    process.exit(70);
  });
} else {
  const warning = unsupportedNodeWarning();
  if (warning) process.stderr.write(`medgate: warning: ${warning}\n`);
  await import('./cli/main.js');
}
