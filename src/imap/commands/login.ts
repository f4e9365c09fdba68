import { tokenText } from '../parser/tokenizer.js';
import { expectArgCount } from './args.js';
import { authenticateUser } from './auth-common.js';
import { NOT_AUTHENTICATED, no, type CommandHandler } from './types.js';

export const login: CommandHandler = {
  states: NOT_AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 2);
    if (!session.secure) return no('LOGIN is disabled until STARTTLS', 'PRIVACYREQUIRED');
    return authenticateUser(session, tokenText(args[0]), tokenText(args[1]), 'LOGIN');
  },
};
