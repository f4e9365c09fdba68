// Prints file-durations.json from the default reporter's output of a full run (see sequencer.ts):
// each file's line "✓ test/x.test.ts (N tests) 12345ms", which counts its hooks too.
import fs from 'node:fs';

const text = fs.readFileSync(process.argv[2], 'utf8').replace(/\x1b\[[0-9;]*m/g, '');
const seconds = {};
for (const m of text.matchAll(/^ [✓❯×↓] (test\/\S+) \(\d+ tests?[^)]*\)\s*(\d+)ms/gm)) {
  const s = Math.round(Number(m[2]) / 100) / 10;
  seconds[m[1]] = s;
}
const sorted = Object.entries(seconds).sort((a, b) => b[1] - a[1]);
process.stdout.write(`{\n${sorted.map(([f, s]) => `  ${JSON.stringify(f)}: ${s}`).join(',\n')}\n}\n`);
