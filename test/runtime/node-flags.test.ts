import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVE_NODE_FLAGS } from '../../src/runtime/node-flags.js';
import { ROOT } from '../helpers/gateway.js';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const FLAGS = SERVE_NODE_FLAGS.join(' ');

/**
 * The flags are written out wherever node is started, because node must have them on its own command
 * line. The shebang is proved by behaviour (test/e2e/startup-safety.test.ts starts the built bin and
 * checks that no flag is reported missing). The other places are text that no test would otherwise
 * start, so here they must name exactly SERVE_NODE_FLAGS.
 */
describe('every launcher of `medgate serve` names the flags of SERVE_NODE_FLAGS', () => {
  it('the shebang of src/cli.ts', () => {
    expect(read('src/cli.ts').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${FLAGS}`);
  });

  it('npm start', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`npm run build && node ${FLAGS} dist/cli.js serve`);
  });

  it('docker/entrypoint.sh', () => {
    expect(read('docker/entrypoint.sh')).toContain(`\nNODE_FLAGS="${FLAGS}"\n`);
  });

  it('docs/operations.md: the command, the shebang and the service unit it tells an operator to use', () => {
    const ops = read('docs/operations.md');
    expect(ops).toContain(`\`node ${FLAGS} dist/cli.js serve\``);
    expect(ops).toContain(`\`#!/usr/bin/env -S node ${FLAGS}\``);
    expect(ops).toContain(`ExecStart=/usr/bin/node ${FLAGS} /opt/medgate/dist/cli.js serve`);
  });
});
