/**
 * IDLE (RFC 2177): after "+ idling", mailbox changes are pushed as they arrive (the session's
 * change listener flushes while `idling` is set) until the client sends DONE.
 */
import { frameAsLine } from '../parser/command-reader.js';
import { expectArgCount } from './args.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';

export const idle: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 0);
    session.idling = true;
    try {
      await session.write(Buffer.from('+ idling\r\n'));
      await session.flushUpdates(true);
      const frame = await session.nextFrame();
      if (!frame) return ok('IDLE terminated (connection closed)');
      const line = frameAsLine(frame);
      if (line === null || line.trim().toUpperCase() !== 'DONE') return { status: 'BAD', text: 'Expected DONE to end IDLE' };
      return ok('IDLE terminated');
    } finally {
      session.idling = false;
    }
  },
};
