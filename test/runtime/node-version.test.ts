import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_NODE_MAJOR, nodeMajor, unsupportedNodeWarning } from '../../src/runtime/node-version.js';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { CLI, ROOT, startServe, tempDir, writeGatewayConfig } from '../helpers/gateway.js';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** A Node of another line on this machine (the machine's own Node 20 on CI), if there is one. */
function otherNode(): string | undefined {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
    } catch {
      continue;
    }
    if (fs.realpathSync(candidate) === fs.realpathSync(process.execPath)) continue;
    return candidate;
  }
  return undefined;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe(`the supported Node line (${SUPPORTED_NODE_MAJOR} LTS)`, () => {
  it(`the suite itself runs on Node ${SUPPORTED_NODE_MAJOR} (this run: ${process.version})`, () => {
    expect(nodeMajor()).toBe(SUPPORTED_NODE_MAJOR);
    expect(unsupportedNodeWarning()).toBeUndefined();
  });

  it('package.json engines and the bundled `node` package name the same line', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };
    expect(pkg.engines.node).toBe(`>=${SUPPORTED_NODE_MAJOR} <${SUPPORTED_NODE_MAJOR + 1}`);
    expect(pkg.devDependencies['node']).toMatch(new RegExp(`^\\^${SUPPORTED_NODE_MAJOR}\\.`));
    const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, { version?: string }> };
    expect(nodeMajor(lock.packages['node_modules/node']?.version ?? '')).toBe(SUPPORTED_NODE_MAJOR);
  });

  it('the Dockerfile builds and runs on the same line', () => {
    const dockerfile = read('docker/Dockerfile').split('\n');
    // Both stages take one base image, named once (and pinned by digest there: docker/README.md).
    const image = dockerfile.filter((l) => l.startsWith('ARG NODE_IMAGE='));
    expect(image).toHaveLength(1);
    expect(image[0]).toMatch(new RegExp(`^ARG NODE_IMAGE=node:${SUPPORTED_NODE_MAJOR}[.-]`));
    const froms = dockerfile.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBe(2);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\}/);
  });

  it('the warning names the running version, and says end of life for an older line', () => {
    expect(unsupportedNodeWarning('v20.20.2')).toContain('Node v20.20.2');
    expect(unsupportedNodeWarning('v20.20.2')).toContain('end of life');
    expect(unsupportedNodeWarning('v26.1.0')).toContain('Node v26.1.0');
    // 24 before 24.7 has no crypto.argon2: logins' Argon2 would run on the serving thread.
    expect(unsupportedNodeWarning('v24.6.0')).toContain('Node 24.7 or later');
    expect(unsupportedNodeWarning('v24.7.0')).toBeUndefined();
    expect(unsupportedNodeWarning('v24.21.0')).toBeUndefined();
    expect(unsupportedNodeWarning(`v${SUPPORTED_NODE_MAJOR}.0.0`)).toContain(`Node ${SUPPORTED_NODE_MAJOR}.7 or later`);
  });

  const other = otherNode();
  if (!other) {
    process.stderr.write(`!!! no Node other than ${process.execPath} on this machine: the test that starts the bin with another Node is SKIPPED\n`);
  }
  it.skipIf(!other)(`the bin started with the machine's own Node (${other ?? 'none'}) runs its commands (and serve) on Node ${SUPPORTED_NODE_MAJOR}, forwards SIGTERM, and says so when it cannot`, async () => {
    const otherVersion = (await run(other!, ['--version'])).stdout.trim();
    expect(nodeMajor(otherVersion)).not.toBe(SUPPORTED_NODE_MAJOR);
    const dir = tempDir('medgate-node-');
    try {
      const config = writeGatewayConfig(dir);
      const init = await run(other!, [CLI, 'init', '--config', config]);
      expect(init.stderr).not.toContain('warning');
      expect(init.code, init.stderr).toBe(0);
      // serve says which Node runs it: the re-run one. SIGTERM to the launcher reaches it, and it stops cleanly.
      const gw = await startServe(config, 90_000, { file: other!, args: [...SERVE_NODE_FLAGS, CLI] });
      const started = gw.logs.map((l) => { try { return JSON.parse(l) as { msg?: string; nodejs?: string }; } catch { return {}; } }).find((r) => r.msg === 'medgate started');
      expect(nodeMajor(started?.nodejs ?? '')).toBe(SUPPORTED_NODE_MAJOR);
      expect(await gw.stop('SIGTERM')).toBe(0);
      // Without the re-run (MEDGATE_NO_REEXEC=1, as inside the re-run itself), the warning names the version.
      const direct = await run(other!, [CLI, '--version'], { MEDGATE_NO_REEXEC: '1' });
      expect(direct.stderr).toContain(`this is Node ${otherVersion}`);
      expect(direct.stdout.trim()).toBe('0.1.0');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
