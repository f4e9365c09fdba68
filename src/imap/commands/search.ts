/** SEARCH / UID SEARCH over the selected mailbox. */
import { ImapError, ImapErrorCode, ImapParseError } from '../errors.js';
import type { MessageMeta } from '../backend.js';
import { needsContent, parseSearch, usesModseq } from '../parser/search-parser.js';
import { atom } from '../response.js';
import { matches, type SearchSubject } from './search-match.js';
import { SELECTED, no, ok, type CommandHandler } from './types.js';

const CHARSETS = new Set(['UTF-8', 'US-ASCII']);

export const search: CommandHandler = {
  states: SELECTED,
  async handle({ session, args, uid }) {
    const request = parseSearch(args);
    const withModseq = usesModseq(request.query);
    if (withModseq && !session.enableCondstore()) throw new ImapParseError('CONDSTORE is not supported');
    if (request.charset && !CHARSETS.has(request.charset)) return { ...no('Unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)'), allowExpunge: uid };
    const view = session.requireSelected();
    const loader = session.requireLoader();
    const messages = view.all().slice();
    const maxUid = messages.length ? (messages[messages.length - 1]?.uid ?? 0) : 0;
    const withContent = needsContent(request.query);
    const found: number[] = [];
    let highestFound = 0;
    for (let i = 0; i < messages.length; i++) {
      const message = messages[i]!;
      let loaded: { raw: Buffer; meta: MessageMeta } | null = null;
      const subject: SearchSubject = {
        message,
        seq: i + 1,
        maxSeq: messages.length,
        maxUid,
        content: async () => {
          if (!loaded) {
            const raw = await loader.raw(view.name, message.uid);
            loaded = { raw, meta: await loader.meta(view.name, view.uidValidity, message.uid, raw) };
          }
          return loaded;
        },
      };
      try {
        if (await matches(request.query, subject)) {
          found.push(uid ? message.uid : i + 1);
          highestFound = Math.max(highestFound, message.modseq ?? 0);
        }
      } catch (err) {
        // A message expunged by another session while we searched simply does not match.
        if (withContent && err instanceof ImapError && err.code === ImapErrorCode.MESSAGE_GONE) continue;
        throw err;
      }
    }
    if (withModseq && found.length > 0) await session.untagged(atom('SEARCH'), ...found, [atom('MODSEQ'), highestFound]);
    else await session.untagged(atom('SEARCH'), ...found);
    return { ...ok('SEARCH completed'), allowExpunge: uid };
  },
};
