/**
 * The Node.js line medgate supports, and what to do when it runs on another one.
 *
 * Node 24 ("Krypton") is the LTS line: in maintenance until 30 April 2028, and every pinned library
 * supports it (better-sqlite3 13 is a Node-API addon for Node >= 22; 12, which listed 24.x but not 26,
 * aborts on Node >= 24.19 headers: docs/operations.md, "Node.js"). Node 20 reached end of
 * life on 30 April 2026: a gateway holding patients' mail must not run on a runtime without
 * security fixes. The npm registry ships Node 24 as the `node` package (a devDependency), so
 * `npm ci` brings it onto any machine that has npm, and npm scripts run it from node_modules/.bin.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SUPPORTED_NODE_MAJOR = 24;
/** The first 24.x with crypto.argon2 (src/crypto/native-argon2.ts). */
export const MIN_MINOR = 7;

/** The major version of a `process.version` string such as 'v24.21.0'. */
export function nodeMajor(version: string = process.version): number {
  return Number(/^v?(\d+)/.exec(version)?.[1] ?? NaN);
}

/** A warning that names the running version when it is not the supported line; undefined when it is. */
export function unsupportedNodeWarning(version: string = process.version): string | undefined {
  if (nodeMajor(version) === SUPPORTED_NODE_MAJOR) {
    const minor = Number(/^v?\d+\.(\d+)/.exec(version)?.[1] ?? NaN);
    if (minor >= MIN_MINOR) return undefined;
    return `medgate needs Node ${SUPPORTED_NODE_MAJOR}.${MIN_MINOR} or later; this is Node ${version}, without crypto.argon2: each password login's ` +
      'Argon2 (64 MiB, about half a second) then runs on the thread that serves every connection' +
      `: run \`npm ci\` in the medgate folder (it installs Node ${SUPPORTED_NODE_MAJOR} into node_modules/.bin) and start medgate with \`npm start\` or \`npx medgate\``;
  }
  return `medgate runs on Node ${SUPPORTED_NODE_MAJOR} LTS; this is Node ${version}, which medgate does not support` +
    (nodeMajor(version) < SUPPORTED_NODE_MAJOR ? ' (end of life: no security fixes)' : '') +
    `: run \`npm ci\` in the medgate folder (it installs Node ${SUPPORTED_NODE_MAJOR} into node_modules/.bin) and start medgate with \`npm start\` or \`npx medgate\``;
}

/**
 * The Node binary `npm ci` put into this installation's node_modules, when the running Node is not
 * the supported line and that binary is (a `./dist/cli.js` started with the machine's Node 20).
 */
export function bundledSupportedNode(moduleUrl: string): string | undefined {
  if (nodeMajor() === SUPPORTED_NODE_MAJOR) return undefined;
  const root = path.resolve(path.dirname(fileURLToPath(moduleUrl)), '..');
  const candidate = path.join(root, 'node_modules', 'node', 'bin', 'node');
  try {
    fs.accessSync(candidate, fs.constants.X_OK);
    return candidate;
  } catch {
    return undefined;
  }
}
