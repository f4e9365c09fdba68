/**
 * Longest test files first, from a committed table of how long each took in a full run
 * (file-durations.json), so that two workers finish together instead of one running a 40 s file
 * alone at the end. vitest's own order needs its results cache, which a fresh clone (CI) does not
 * have: every file is then "unknown" and they run in glob order, the slow smtp/* files last.
 * Files not in the table (new ones) run first, as vitest runs unknown files first; the table lists
 * every file of the run it was made from, the sub-second ones too.
 *
 * To refresh the table after a full run saved with `--reporter=default > run.log`:
 *   node test/setup/file-durations.mjs run.log > test/setup/file-durations.json
 */
import fs from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const TABLE = new URL('./file-durations.json', import.meta.url);

export class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const seconds = JSON.parse(fs.readFileSync(TABLE, 'utf8')) as Record<string, number>;
    const root = this.ctx.config.root;
    const expected = (f: TestSpecification): number => seconds[path.relative(root, f.moduleId).split(path.sep).join('/')] ?? Infinity;
    // Stable: equal estimates keep vitest's order.
    return (await super.sort(files)).map((f, i) => ({ f, i, s: expected(f) }))
      .sort((a, b) => (b.s - a.s) || (a.i - b.i)).map((x) => x.f);
  }
}
