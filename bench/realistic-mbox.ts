/**
 * Writes the realistic bench mailbox (bench/lib/realistic-mail.ts) as an mbox, e.g. for imaptest's
 * `mbox=` by hand:  npx tsx bench/realistic-mbox.ts /tmp/realistic.mbox [seed] [messages]
 */
import { describeMailbox, writeRealisticMbox } from './lib/realistic-mail.js';

const [file, seed = '31', count = '60'] = process.argv.slice(2);
if (!file) {
  console.error('usage: npx tsx bench/realistic-mbox.ts OUT.mbox [seed (31)] [messages (60)]');
  process.exit(2);
}
const messages = await writeRealisticMbox(file, { seed, messages: Number(count) });
console.log(`${file}: ${describeMailbox(messages)} (seed ${seed})`);
