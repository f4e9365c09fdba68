/**
 * Shared by LIST and LSUB: the mailbox tree (mailboxes, the parents they imply and subscriptions)
 * matched against patterns, with selection options and RECURSIVEMATCH (RFC 5258 §3) and the LSUB
 * rules of RFC 3501 §6.3.9.
 */
import type { MailboxInfo } from '../backend.js';
import { HIERARCHY_DELIMITER, listPatternToRegExp } from '../mailbox-name.js';

/**
 * A backend entry. `nonExistent` marks a name that is only a subscription (RFC 3501 §6.3.6: the
 * mailbox was deleted, or never created, and the subscription stays); backends that keep
 * subscriptions on the mailbox itself simply never report one.
 */
type BackendMailbox = MailboxInfo & { nonExistent?: boolean };

export interface ListEntry {
  name: string;
  attributes: string[];
  /** RFC 5258 CHILDINFO extended data item, e.g. `['SUBSCRIBED']`; empty when none. */
  childInfo: string[];
  /** The entry satisfies the selection options itself (false: listed only for CHILDINFO / LSUB \Noselect). */
  selected: boolean;
  /** The mailbox exists and can be opened (STATUS is worth asking). */
  selectable: boolean;
  info: MailboxInfo | null;
}

export interface ListOptions {
  /** Selection option SUBSCRIBED: subscribed names, existing or not. */
  selectSubscribed: boolean;
  /** Selection option SPECIAL-USE (RFC 6154). */
  selectSpecialUse: boolean;
  /** Selection option RECURSIVEMATCH: also parents whose descendants match the selection but not the pattern. */
  recursiveMatch: boolean;
  /** LIST-EXTENDED syntax was used: names that do not exist are `\NonExistent` (RFC 5258 §3.4), not `\Noselect`. */
  extended: boolean;
  returnSpecialUse: boolean;
  returnChildren: boolean;
  returnSubscribed: boolean;
}

interface Node {
  name: string;
  /** A mailbox or a container of mailboxes, as opposed to a name known only from subscriptions. */
  exists: boolean;
  noSelect: boolean;
  subscribed: boolean;
  hasChildren: boolean;
  /** Descendants that satisfy the selection options (filled only when RECURSIVEMATCH needs them). */
  selectedDescendants: Node[];
  info: MailboxInfo | null;
}

function ancestors(name: string): string[] {
  const segments = name.split(HIERARCHY_DELIMITER);
  return segments.slice(1).map((_, i) => segments.slice(0, i + 1).join(HIERARCHY_DELIMITER));
}

/** Every name the listing may mention, with the parents that mailboxes and subscriptions imply. */
function buildTree(mailboxes: BackendMailbox[]): Map<string, Node> {
  const nodes = new Map<string, Node>();
  const node = (name: string): Node => {
    let found = nodes.get(name);
    if (!found) {
      found = { name, exists: false, noSelect: true, subscribed: false, hasChildren: false, selectedDescendants: [], info: null };
      nodes.set(name, found);
    }
    return found;
  };
  for (const info of mailboxes) {
    const entry = node(info.name);
    entry.info = info;
    entry.subscribed ||= info.subscribed;
    if (!info.nonExistent) {
      entry.exists = true;
      entry.noSelect = info.noSelect === true;
    }
  }
  // Parents of real mailboxes exist as containers (\Noselect when the backend does not list them);
  // parents of mere subscriptions do not exist at all.
  for (const entry of [...nodes.values()]) {
    for (const parentName of ancestors(entry.name)) {
      const parent = node(parentName);
      if (entry.exists) {
        parent.exists = true;
        parent.hasChildren = true;
      }
    }
  }
  return nodes;
}

function isSelected(node: Node, options: ListOptions): boolean {
  if (options.selectSubscribed && !node.subscribed) return false;
  if (options.selectSpecialUse && !node.info?.specialUse) return false;
  // Without SUBSCRIBED, names known only from subscriptions are not listed.
  return node.exists || options.selectSubscribed;
}

function childInfoItems(options: ListOptions): string[] {
  const items: string[] = [];
  if (options.selectSubscribed) items.push('SUBSCRIBED');
  if (options.selectSpecialUse) items.push('SPECIAL-USE');
  return items;
}

interface Match {
  node: Node;
  selected: boolean;
  /** Has a selected descendant that the patterns do not match (RECURSIVEMATCH only). */
  hiddenSelectedBelow: boolean;
}

/**
 * The names matching one of the patterns that are listed: those satisfying the selection, and
 * with RECURSIVEMATCH the ones that do not but have a selected descendant the patterns miss
 * (RFC 5258 §3.5: `LIST (SUBSCRIBED RECURSIVEMATCH) "" %` shows `Foo ("CHILDINFO" ("SUBSCRIBED"))`
 * when only `Foo/Bar` is subscribed; when `Foo/Bar` is itself listed, `Foo` is not). CHILDINFO
 * tells what the listing hides, so a descendant the client sees anyway does not add it.
 */
function matches(mailboxes: BackendMailbox[], reference: string, patterns: string[], options: ListOptions): Match[] {
  const nodes = buildTree(mailboxes);
  const regexps = patterns.map((pattern) => listPatternToRegExp(reference, pattern));
  const matchesPattern = (name: string): boolean => regexps.some((re) => re.test(name));
  const selected = new Set<Node>();
  for (const node of nodes.values()) {
    if (!isSelected(node, options)) continue;
    selected.add(node);
    if (options.recursiveMatch) for (const parent of ancestors(node.name)) nodes.get(parent)?.selectedDescendants.push(node);
  }
  const result: Match[] = [];
  for (const node of nodes.values()) {
    if (!matchesPattern(node.name)) continue;
    const isSel = selected.has(node);
    const hiddenSelectedBelow = node.selectedDescendants.some((d) => !matchesPattern(d.name));
    if (isSel || hiddenSelectedBelow) result.push({ node, selected: isSel, hiddenSelectedBelow });
  }
  result.sort((a, b) => (a.node.name === 'INBOX' ? -1 : b.node.name === 'INBOX' ? 1 : a.node.name.localeCompare(b.node.name)));
  return result;
}

export function listEntries(mailboxes: BackendMailbox[], reference: string, patterns: string[], options: ListOptions): ListEntry[] {
  const childInfo = childInfoItems(options);
  return matches(mailboxes, reference, patterns, options).map(({ node, selected, hiddenSelectedBelow }) => {
    const attributes: string[] = [];
    if (!node.exists) attributes.push(options.extended ? '\\NonExistent' : '\\Noselect');
    else if (node.noSelect) attributes.push('\\Noselect');
    if (options.returnChildren) attributes.push(node.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if (options.returnSubscribed && node.subscribed) attributes.push('\\Subscribed');
    if (options.returnSpecialUse && node.info?.specialUse) attributes.push(node.info.specialUse);
    return {
      name: node.name,
      attributes,
      childInfo: hiddenSelectedBelow ? childInfo : [],
      selected,
      selectable: node.exists && !node.noSelect,
      info: node.info,
    };
  });
}

/**
 * LSUB (RFC 3501 §6.3.9): subscribed names matching the pattern; when the pattern ends in `%`, a
 * parent that is not subscribed itself but has a subscribed descendant is returned with \Noselect
 * ("if foo/bar is subscribed and % is used, foo is returned with \Noselect"). A subscribed name
 * whose mailbox no longer exists cannot be selected either.
 */
export function lsubEntries(mailboxes: BackendMailbox[], reference: string, pattern: string): ListEntry[] {
  const options: ListOptions = {
    selectSubscribed: true,
    selectSpecialUse: false,
    recursiveMatch: pattern.endsWith('%'),
    extended: false,
    returnSpecialUse: false,
    returnChildren: false,
    returnSubscribed: false,
  };
  return matches(mailboxes, reference, [pattern], options).map(({ node, selected }) => ({
    name: node.name,
    attributes: !selected || !node.exists || node.noSelect ? ['\\Noselect'] : [],
    childInfo: [],
    selected,
    selectable: node.exists && !node.noSelect,
    info: node.info,
  }));
}
