import type { ImapFlow } from 'imapflow';

/**
 * A client's picture of the selected mailbox, kept from the wire: the count after EXISTS and
 * EXPUNGE, the UID at each sequence number, the keywords FLAGS announced and each UID's last MODSEQ.
 * Every response that does not fit it (a number above EXISTS, an EXPUNGE during FETCH/STORE/SEARCH,
 * a keyword before FLAGS, MODSEQ going back, anything after BYE) is recorded as a violation.
 */
export class WireModel {
  exists = 0;
  uids: Array<number | undefined> = [];
  keywords = new Set<string>();
  modseqs = new Map<number, bigint>();
  violations: string[] = [];
  expunges = 0;
  private command = '';
  private afterBye = false;

  /** The client sends a command (`tag NAME args` or `tag UID NAME args`). */
  start(line: string): void {
    const words = line.split(' ');
    this.command = (words[1]?.toUpperCase() === 'UID' ? `UID ${words[2] ?? ''}` : words[1] ?? '').toUpperCase();
    if (this.command === 'SELECT' || this.command === 'EXAMINE') {
      this.exists = 0;
      this.uids = [];
      this.keywords.clear();
      this.modseqs.clear();
    }
  }

  /** One untagged response, literals left out (they never hold the parts checked here). */
  untagged(line: string): void {
    if (!line.startsWith('* ')) return;
    if (this.afterBye) this.violations.push(`after BYE: ${line}`);
    const m = /^\* (\d+) (EXISTS|RECENT|EXPUNGE|FETCH)\b(.*)$/s.exec(line);
    if (!m) {
      if (/^\* BYE\b/.test(line)) this.afterBye = true;
      const flags = /^\* FLAGS \(([^)]*)\)/.exec(line);
      if (flags) this.keywords = new Set(flags[1]!.split(' ').filter((f) => f && !f.startsWith('\\')).map((f) => f.toLowerCase()));
      const search = /^\* SEARCH([\d ]*)/.exec(line);
      if (search && this.command === 'SEARCH') {
        for (const n of search[1]!.trim().split(' ').filter(Boolean).map(Number)) {
          if (n > this.exists) this.violations.push(`SEARCH result ${n} above EXISTS ${this.exists}`);
        }
      }
      return;
    }
    const n = Number(m[1]);
    const kind = m[2]!;
    if (kind === 'EXISTS') {
      if (n < this.exists) this.violations.push(`EXISTS went down from ${this.exists} to ${n} without EXPUNGE`);
      while (this.uids.length < n) this.uids.push(undefined);
      this.exists = n;
    } else if (kind === 'RECENT') {
      if (n > this.exists) this.violations.push(`RECENT ${n} above EXISTS ${this.exists}`);
    } else if (kind === 'EXPUNGE') {
      if (['FETCH', 'STORE', 'SEARCH'].includes(this.command)) this.violations.push(`EXPUNGE ${n} during ${this.command}`);
      if (n < 1 || n > this.exists) this.violations.push(`EXPUNGE ${n} with EXISTS ${this.exists}`);
      else {
        this.uids.splice(n - 1, 1);
        this.exists--;
        this.expunges++;
      }
    } else {
      if (n < 1 || n > this.exists) {
        this.violations.push(`FETCH for ${n} above EXISTS ${this.exists} (during ${this.command})`);
        return;
      }
      const rest = m[3]!;
      const uid = /\bUID (\d+)/.exec(rest);
      if (uid) {
        const known = this.uids[n - 1];
        if (known !== undefined && known !== Number(uid[1])) this.violations.push(`sequence ${n} was UID ${known}, now UID ${uid[1]}`);
        this.uids[n - 1] = Number(uid[1]);
      }
      const flags = /\bFLAGS \(([^)]*)\)/.exec(rest);
      for (const flag of flags ? flags[1]!.split(' ').filter(Boolean) : []) {
        if (!flag.startsWith('\\') && !this.keywords.has(flag.toLowerCase())) this.violations.push(`keyword ${flag} shown before FLAGS announced it (during ${this.command}: ${line.slice(0, 120)})`);
      }
      const modseq = /\bMODSEQ \((\d+)\)/.exec(rest);
      const known = this.uids[n - 1];
      if (modseq && known !== undefined) {
        const value = BigInt(modseq[1]!);
        const before = this.modseqs.get(known);
        if (before !== undefined && value < before) this.violations.push(`MODSEQ of UID ${known} went back from ${before} to ${value}`);
        this.modseqs.set(known, value);
      }
    }
  }
}

/**
 * What a reading client does while another session changes the mailbox: FETCH (flags, envelope,
 * bodies), STORE, SEARCH and NOOP in turn until `until`. Returns how many bodies it fetched.
 */
export async function readWhileOthersWrite(reader: ImapFlow, until: number, keyword: string): Promise<number> {
  let fetchedBodies = 0;
  for (let i = 0; Date.now() < until; i++) {
    switch (i % 6) {
      case 0:
        // imapflow also yields the unsolicited FETCH (FLAGS) of other sessions' changes here.
        for await (const m of reader.fetch('1:*', { flags: true, envelope: true, source: true })) if (m.source) fetchedBodies++;
        break;
      case 1:
        await reader.fetchOne('*', { flags: true, bodyParts: ['TEXT'] });
        break;
      case 2:
        await reader.messageFlagsAdd('1:*', [keyword]);
        break;
      case 3:
        await reader.search({ seen: false });
        break;
      case 4:
        await reader.noop();
        break;
      default:
        await reader.search({ all: true }, { uid: true });
    }
  }
  return fetchedBodies;
}
