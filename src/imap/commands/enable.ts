import { atom } from '../response.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';
import { ImapParseError } from '../errors.js';
import { tokenText } from '../parser/tokenizer.js';

/** ENABLE (RFC 5161): only CONDSTORE can be enabled; unknown names are ignored as the RFC asks. */
export const enable: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    if (args.length === 0) throw new ImapParseError('ENABLE needs at least one capability');
    const enabled: string[] = [];
    for (const arg of args) {
      const name = tokenText(arg).toUpperCase();
      if (name === 'CONDSTORE' && session.enableCondstore()) enabled.push(name);
    }
    await session.untagged(atom('ENABLED'), ...enabled.map(atom));
    return ok('ENABLE completed');
  },
};
