import { expectArgCount } from './args.js';
import { ANY_STATE, SELECTED, ok, type CommandHandler } from './types.js';

/** NOOP: pending mailbox updates are flushed by the session before the tagged OK. */
export const noop: CommandHandler = {
  states: ANY_STATE,
  async handle({ args }) {
    expectArgCount(args, 0);
    return ok('NOOP completed');
  },
};

/** CHECK (RFC 3501 §6.4.1): our backends commit every change immediately, so it is a NOOP. */
export const check: CommandHandler = {
  states: SELECTED,
  async handle({ args }) {
    expectArgCount(args, 0);
    return ok('CHECK completed');
  },
};
