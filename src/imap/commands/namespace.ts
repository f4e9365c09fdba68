import { atom } from '../response.js';
import { expectArgCount } from './args.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';

/** One personal namespace, no prefix, `/` delimiter; no other-users or shared namespaces. */
export const namespace: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 0);
    await session.untagged(atom('NAMESPACE'), [['', '/']], null, null);
    return ok('NAMESPACE completed');
  },
};
