/** LIST with LIST-EXTENDED (RFC 5258) selection/return options, SPECIAL-USE, CHILDREN, LIST-STATUS. */
import { ImapParseError } from '../errors.js';
import { HIERARCHY_DELIMITER } from '../mailbox-name.js';
import { tokenText, type Token } from '../parser/tokenizer.js';
import { atom, mailboxValue, type ImapValue } from '../response.js';
import { decodeMailboxName } from '../utf7.js';
import { listEntries, type ListOptions } from './list-common.js';
import { parseStatusItems, statusValues, type StatusItem } from './status-common.js';
import { AUTHENTICATED, ok, type CommandHandler } from './types.js';

function decodeArg(token: Token | undefined): string {
  const text = tokenText(token);
  return /[^\x00-\x7f]/.test(text) ? text : decodeMailboxName(text);
}

function parseSelectionOptions(items: Token[], options: ListOptions): void {
  for (const option of items) {
    if (option.type !== 'atom') throw new ImapParseError('LIST selection options must be atoms');
    const name = option.value.toUpperCase();
    if (name === 'SUBSCRIBED') options.selectSubscribed = options.returnSubscribed = true;
    else if (name === 'SPECIAL-USE') options.selectSpecialUse = true;
    else if (name === 'RECURSIVEMATCH') options.recursiveMatch = true;
    else if (name !== 'REMOTE') throw new ImapParseError('Unknown LIST selection option');
  }
  // RFC 5258 §3: RECURSIVEMATCH only refines another selection option (REMOTE does not count).
  if (options.recursiveMatch && !options.selectSubscribed && !options.selectSpecialUse) {
    throw new ImapParseError('RECURSIVEMATCH needs another selection option');
  }
}

export const list: CommandHandler = {
  states: AUTHENTICATED,
  async handle({ session, args }) {
    const rest = [...args];
    const options: ListOptions = {
      selectSubscribed: false,
      selectSpecialUse: false,
      recursiveMatch: false,
      extended: false,
      returnSpecialUse: true,
      returnChildren: true,
      returnSubscribed: false,
    };
    let statusItems: StatusItem[] | null = null;
    if (rest[0]?.type === 'list') {
      options.extended = true;
      parseSelectionOptions((rest.shift() as { items: Token[] }).items, options);
    }
    if (rest.length < 2) throw new ImapParseError('LIST needs a reference and a pattern');
    const reference = decodeArg(rest.shift());
    const patternToken = rest.shift() as Token;
    if (patternToken.type === 'list') options.extended = true;
    const patterns = patternToken.type === 'list' ? patternToken.items.map(decodeArg) : [decodeArg(patternToken)];
    if (rest.length > 0) {
      if (rest.length !== 2 || tokenText(rest[0]).toUpperCase() !== 'RETURN' || rest[1]?.type !== 'list') {
        throw new ImapParseError('Invalid LIST return options');
      }
      options.extended = true;
      const items = rest[1].items;
      for (let i = 0; i < items.length; i++) {
        const name = tokenText(items[i]).toUpperCase();
        if (name === 'SUBSCRIBED') options.returnSubscribed = true;
        else if (name === 'STATUS') statusItems = parseStatusItems(items[++i]);
        else if (name !== 'CHILDREN' && name !== 'SPECIAL-USE') throw new ImapParseError('Unknown LIST return option');
      }
    }
    // `LIST "" ""` asks for the delimiter (RFC 3501 §6.3.8); with LIST-EXTENDED syntax "" is an ordinary pattern.
    if (!options.extended && patterns.length === 1 && patterns[0] === '') {
      await session.untagged(atom('LIST'), [atom('\\Noselect')], HIERARCHY_DELIMITER, '');
      return ok('LIST completed');
    }
    const user = session.requireUser();
    const entries = listEntries(await user.listMailboxes(), reference, patterns, options);
    for (const entry of entries) {
      const values: ImapValue[] = [atom('LIST'), entry.attributes.map(atom), HIERARCHY_DELIMITER, mailboxValue(entry.name)];
      if (entry.childInfo.length > 0) values.push(['CHILDINFO', entry.childInfo]);
      await session.untagged(...values);
      // STATUS only for mailboxes that were selected and can be opened (RFC 5819 §2).
      if (statusItems && entry.selected && entry.selectable) {
        const status = await statusValues(user, entry.name, statusItems).catch(() => null);
        if (status) await session.untagged(atom('STATUS'), mailboxValue(entry.name), status);
      }
    }
    return ok('LIST completed');
  },
};
