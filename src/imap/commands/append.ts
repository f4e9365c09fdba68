/** APPEND (RFC 3501 §6.3.11) with APPENDUID (RFC 4315); the literal size cap is enforced by the reader. */
import { ImapError, ImapErrorCode, ImapParseError } from '../errors.js';
import { encodeBinaryParts } from '../mime/binary-converter.js';
import { tokenText } from '../parser/tokenizer.js';
import { flagListArg, mailboxArg, parseDateTime } from './args.js';
import { AUTHENTICATED, no, ok, type CommandHandler } from './types.js';

export const append: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    if (args.length < 2 || args.length > 4) throw new ImapParseError('Wrong number of arguments');
    const name = mailboxArg(args[0]);
    const message = args[args.length - 1];
    if (!message || message.type !== 'string' || !message.literal) throw new ImapParseError('APPEND expects the message as a literal');
    let flags: string[] = [];
    let date = new Date();
    for (const option of args.slice(1, -1)) {
      if (option.type === 'list') flags = flagListArg(option);
      else date = parseDateTime(tokenText(option));
    }
    flags = flags.filter((flag) => flag !== '\\Recent');
    if (message.value.length > session.limits.appendLimit) return no('Message exceeds APPENDLIMIT', 'TOOBIG');
    try {
      // Parts holding NUL are stored base64-encoded: BODY[] could not return them otherwise.
      const stored = await encodeBinaryParts(message.value);
      const result = await session.requireUser().append(name, stored, flags, date);
      return ok('APPEND completed', `APPENDUID ${result.uidValidity} ${result.uid}`);
    } catch (err) {
      if (err instanceof ImapError && err.code === ImapErrorCode.NO_SUCH_MAILBOX) return no('Mailbox does not exist', 'TRYCREATE');
      throw err;
    }
  },
};
