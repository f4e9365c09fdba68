/** AUTHENTICATE PLAIN (RFC 4616), with or without SASL-IR initial response (RFC 4959). */
import { frameAsLine } from '../parser/command-reader.js';
import { tokenText } from '../parser/tokenizer.js';
import { expectArgCount } from './args.js';
import { authenticateUser } from './auth-common.js';
import { NOT_AUTHENTICATED, no, type CommandHandler } from './types.js';

export const authenticate: CommandHandler = {
  states: NOT_AUTHENTICATED,
  async handle({ session, args }) {
    expectArgCount(args, 1, 2);
    const mechanism = tokenText(args[0]).toUpperCase();
    if (mechanism !== 'PLAIN') return no('Unsupported authentication mechanism', 'CANNOT');
    if (!session.secure) return no('Authentication is disabled until STARTTLS', 'PRIVACYREQUIRED');
    let response = args[1] ? tokenText(args[1]) : null;
    if (response === null) {
      await session.write(Buffer.from('+ \r\n'));
      const frame = await session.nextFrame();
      if (!frame) return no('Connection closed');
      response = frameAsLine(frame);
      if (response === null) return { status: 'BAD', text: 'Invalid SASL response' };
    }
    response = response.trim();
    if (response === '*') return { status: 'BAD', text: 'Authentication cancelled' };
    const decoded = response === '=' ? '' : Buffer.from(response, 'base64').toString('utf8');
    const [authzid, authcid, password] = decoded.split('\u0000');
    if (authcid === undefined || password === undefined || !authcid) return { status: 'BAD', text: 'Invalid PLAIN response' };
    if (authzid && authzid !== authcid) return no('Acting as another user is not allowed', 'AUTHORIZATIONFAILED');
    return authenticateUser(session, authcid, password, 'PLAIN');
  },
};
