/** CLOSE: silently expunges \Deleted messages (unless read-only) and leaves the selected state. */
import { expectArgCount } from './args.js';
import { SELECTED, ok, type CommandHandler } from './types.js';

export const close: CommandHandler = {
  states: SELECTED,
  async handle({ session, args }) {
    expectArgCount(args, 0);
    const view = session.requireSelected();
    session.deselect();
    if (!view.readOnly) await session.requireUser().expunge(view.name);
    return ok('CLOSE completed');
  },
};
