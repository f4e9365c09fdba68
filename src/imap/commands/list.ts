/** LIST with LIST-EXTENDED (RFC 5258) selection/return options, SPECIAL-USE, CHILDREN, LIST-STATUS. */
import { ImapParseError } from '../errors.js';
import { HIERARCHY_DELIMITER } from '../mailbox-name.js';
import { tokenText, type Token } from '../parser/tokenizer.js';
import { atom, mailboxValue } from '../response.js';
import { decodeMailboxName } from '../utf7.js';
import { listEntries, type ListOptions } from './list-common.js';
import { parseStatusItems, statusValues, type StatusItem } from './status-common.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';

function decodeArg(token: Token | undefined): string {
  const text = tokenText(token);
  return /[^\x00-\x7f]/.test(text) ? text : decodeMailboxName(text);
}

export const list: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    const rest = [...args];
    const options: ListOptions = { subscribedOnly: false, specialUseOnly: false, returnSpecialUse: true, returnChildren: true, returnSubscribed: false };
    let statusItems: StatusItem[] | null = null;
    if (rest[0]?.type === 'list') {
      for (const option of (rest.shift() as { items: Token[] }).items) {
        const name = tokenText(option).toUpperCase();
        if (name === 'SUBSCRIBED') options.subscribedOnly = options.returnSubscribed = true;
        else if (name === 'SPECIAL-USE') options.specialUseOnly = true;
        else if (name !== 'REMOTE' && name !== 'RECURSIVEMATCH') throw new ImapParseError('Unknown LIST selection option');
      }
    }
    if (rest.length < 2) throw new ImapParseError('LIST needs a reference and a pattern');
    const reference = decodeArg(rest.shift());
    const patternToken = rest.shift() as Token;
    const patterns = patternToken.type === 'list' ? patternToken.items.map(decodeArg) : [decodeArg(patternToken)];
    if (rest.length > 0) {
      if (rest.length !== 2 || tokenText(rest[0]).toUpperCase() !== 'RETURN' || rest[1]?.type !== 'list') {
        throw new ImapParseError('Invalid LIST return options');
      }
      const items = rest[1].items;
      for (let i = 0; i < items.length; i++) {
        const name = tokenText(items[i]).toUpperCase();
        if (name === 'SUBSCRIBED') options.returnSubscribed = true;
        else if (name === 'STATUS') statusItems = parseStatusItems(items[++i]);
        else if (name !== 'CHILDREN' && name !== 'SPECIAL-USE') throw new ImapParseError('Unknown LIST return option');
      }
    }
    if (patterns.length === 1 && patterns[0] === '') {
      await session.untagged(atom('LIST'), [atom('\\Noselect')], HIERARCHY_DELIMITER, '');
      return ok('LIST completed');
    }
    const user = session.requireUser();
    const entries = listEntries(await user.listMailboxes(), reference, patterns, options);
    for (const entry of entries) {
      await session.untagged(atom('LIST'), entry.attributes.map(atom), HIERARCHY_DELIMITER, mailboxValue(entry.name));
      if (statusItems && !entry.info?.noSelect) {
        const values = await statusValues(user, entry.name, statusItems).catch(() => null);
        if (values) await session.untagged(atom('STATUS'), mailboxValue(entry.name), values);
      }
    }
    return ok('LIST completed');
  },
};
