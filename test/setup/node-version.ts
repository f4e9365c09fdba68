/**
 * vitest global setup: say which Node runs the suite, and refuse to run it on another line than
 * the supported one (npm test runs the `node` package's Node 24 from node_modules/.bin).
 */
import { SUPPORTED_NODE_MAJOR, nodeMajor } from '../../src/runtime/node-version.js';

export default function setup(): void {
  process.stdout.write(`medgate test suite on Node ${process.version} (${process.execPath}); supported line: Node ${SUPPORTED_NODE_MAJOR} LTS\n`);
  if (nodeMajor() !== SUPPORTED_NODE_MAJOR) {
    throw new Error(`the test suite runs on Node ${process.version}, not Node ${SUPPORTED_NODE_MAJOR}: run it with \`npm test\` after \`npm ci\`, which installs Node ${SUPPORTED_NODE_MAJOR} into node_modules/.bin`);
  }
}
