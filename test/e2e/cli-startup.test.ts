/**
 * `medgate --help` and the help of every command group start no store, PKI or crypto code: the
 * commands load what they use when they run (src/cli/*: dynamic imports). The CLI is started
 * hundreds of times by scripts, the container entrypoint and this test suite; it used to load the
 * whole gateway first (1.3 s), then the config and context code (0.4 s).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, tempDir } from '../helpers/gateway.js';

const dir = tempDir('medgate-cli-startup-');
// An ESM loader hook (module.register) that writes every module URL it resolves to a file.
const log = path.join(dir, 'loaded.txt');
const hooks = path.join(dir, 'hooks.mjs');
fs.writeFileSync(hooks, `import fs from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  fs.appendFileSync(${JSON.stringify(log)}, r.url + '\\n');
  return r;
}`);
const register = path.join(dir, 'register.mjs');
fs.writeFileSync(register, `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`);

/** The packages under node_modules that `medgate ARGS` loads. */
function packagesLoadedBy(args: string[]): string[] {
  fs.rmSync(log, { force: true });
  execFileSync(process.execPath, ['--import', pathToFileURL(register).href, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const urls = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  return [...new Set(urls.map((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1]).filter((p): p is string => !!p))].sort();
}

describe('CLI start-up', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--help, and the help of each command group, load commander and nothing else', () => {
    for (const args of [['--help'], ['directory', '--help'], ['store', 'migrate', '--help'], ['user', '--help'], ['pki', '--help'], ['patients', '--help'], ['serve', '--help']]) {
      expect({ args, loaded: packagesLoadedBy(args) }).toEqual({ args, loaded: ['commander'] });
    }
  }, 60_000);
});
