/** ID (RFC 2971): we log the client's identification and give ours. */
import { atom } from '../response.js';
import { tokenNString, type Token } from '../parser/tokenizer.js';
import { expectArgCount } from './args.js';
import { ANY_STATE, ok, type CommandHandler } from './types.js';

function clientFields(token: Token | undefined): Record<string, string | null> {
  if (!token || token.type !== 'list') return {};
  const fields: Record<string, string | null> = {};
  for (let i = 0; i + 1 < token.items.length && i < 60; i += 2) {
    fields[(tokenNString(token.items[i]) ?? '').slice(0, 30)] = tokenNString(token.items[i + 1])?.slice(0, 100) ?? null;
  }
  return fields;
}

export const id: CommandHandler = {
  states: ANY_STATE,
  async handle({ session, args }) {
    expectArgCount(args, 1);
    session.ctx.logger.debug({ session: session.id, client: clientFields(args[0]) }, 'imap client id');
    await session.untagged(atom('ID'), ['name', session.ctx.serverName, 'vendor', 'medgate']);
    return ok('ID completed');
  },
};
