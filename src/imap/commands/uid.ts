/** UID FETCH / STORE / COPY / MOVE / SEARCH / EXPUNGE: the same handlers with UIDs instead of sequence numbers. */
import { ImapParseError } from '../errors.js';
import { tokenText } from '../parser/tokenizer.js';
import { copy } from './copy.js';
import { expunge } from './expunge.js';
import { fetch } from './fetch.js';
import { move } from './move.js';
import { search } from './search.js';
import { store } from './store.js';
import { SELECTED, type CommandHandler } from './types.js';

const SUBCOMMANDS: Record<string, CommandHandler> = { FETCH: fetch, STORE: store, COPY: copy, MOVE: move, SEARCH: search, EXPUNGE: expunge };

export const uid: CommandHandler = {
  states: SELECTED,
  async handle(ctx) {
    const name = tokenText(ctx.args[0]).toUpperCase();
    const handler = SUBCOMMANDS[name];
    if (!handler) throw new ImapParseError('Unknown UID command');
    return handler.handle({ ...ctx, args: ctx.args.slice(1), uid: true });
  },
};
