import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { DirectoryErrorCode, DirectoryFormatError } from './errors.js';

/**
 * Reader of the MSSanté domain whitelist ("liste blanche"): XML in the namespace below, one
 * `Domaine/Nom` element per operator domain allowed to exchange mail. The result replaces the whole
 * stored whitelist, so the reader is strict: one invalid domain refuses the file rather than
 * silently shrinking the list.
 */
export const WHITELIST_NAMESPACE = 'https://listeblanche.mssante.fr/schema';

const MAX_DOMAIN_LENGTH = 253;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Syntax of a mail domain name (RFC 1035 host names, as already lower-cased ASCII / punycode):
 * at least two labels, each 1–63 letters, digits or inner hyphens, a top-level label that is not
 * all digits (so an IP address is never taken for a domain).
 */
export function isValidDomainName(domain: string): boolean {
  if (domain.length === 0 || domain.length > MAX_DOMAIN_LENGTH) return false;
  const labels = domain.split('.');
  if (labels.length < 2) return false;
  if (!labels.every((label) => LABEL.test(label))) return false;
  return !/^\d+$/.test(labels[labels.length - 1] ?? '');
}

type XmlNode = Record<string, unknown>;

/** Parses the whitelist and returns its domains, lower-cased, deduplicated, in document order. */
export function parseWhitelist(xml: string): string[] {
  const text = xml.replace(/^\uFEFF/, '');
  // A whitelist never needs a DTD; refusing it closes the door to entity-expansion tricks.
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) {
    throw invalidXml('the document declares a DOCTYPE or an ENTITY, which a whitelist never needs');
  }
  let validation: ReturnType<typeof XMLValidator.validate>;
  try {
    validation = XMLValidator.validate(text);
  } catch (err) {
    throw invalidXml(err instanceof Error ? err.message : 'unreadable document', err);
  }
  if (validation !== true) {
    throw invalidXml(`${validation.err.msg} (line ${validation.err.line}, column ${validation.err.col})`);
  }
  let root: unknown;
  try {
    root = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: true,
      processEntities: true,
    }).parse(text);
  } catch (err) {
    throw invalidXml(err instanceof Error ? err.message : 'unreadable document', err);
  }

  const found: string[] = [];
  try {
    walk(root, new Map([['', null]]), false, found);
  } catch (err) {
    // Only a pathological nesting depth can make the walk fail (stack exhausted).
    throw invalidXml('the document is nested too deeply to be a whitelist', err);
  }
  if (found.length === 0) {
    throw new DirectoryFormatError(
      DirectoryErrorCode.WhitelistNoDomain,
      `The whitelist holds no Domaine/Nom element in namespace ${WHITELIST_NAMESPACE}; refusing to replace the list with an empty one`,
    );
  }
  const domains: string[] = [];
  const seen = new Set<string>();
  for (const raw of found) {
    const domain = raw.trim().toLowerCase().replace(/\.$/, '');
    if (!isValidDomainName(domain)) {
      throw new DirectoryFormatError(
        DirectoryErrorCode.WhitelistInvalidDomain,
        `The whitelist holds an invalid domain name ${JSON.stringify(truncate(raw))} (expected e.g. "operator.example.fr")`,
        { domain: truncate(raw) },
      );
    }
    if (!seen.has(domain)) {
      seen.add(domain);
      domains.push(domain);
    }
  }
  return domains;
}

/** Namespace prefix → namespace URI; '' is the default namespace (null: none declared). */
type Scope = Map<string, string | null>;

/**
 * Walks the parsed tree, resolving namespace prefixes itself (the parser keeps `prefix:Name`), and
 * collects the text of `Nom` children of `Domaine` elements that are either in the whitelist
 * namespace or in no namespace at all (tolerated: some producers omit it). Elements of any other
 * namespace are ignored.
 */
function walk(node: unknown, parentScope: Scope, insideDomaine: boolean, out: string[]): void {
  if (Array.isArray(node)) {
    for (const item of node) walk(item, parentScope, insideDomaine, out);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const element = node as XmlNode;
  for (const [key, value] of Object.entries(element)) {
    if (key.startsWith('@_') || key === '#text' || key.startsWith('?')) continue;
    const children = Array.isArray(value) ? value : [value];
    for (const child of children) {
      const scope = scopeOf(child, parentScope);
      const { prefix, local } = splitName(key);
      const ns = scope.get(prefix);
      const inOurNamespace = ns === null || ns === WHITELIST_NAMESPACE;
      if (insideDomaine && local === 'Nom' && inOurNamespace) {
        const text = textOf(child);
        if (text !== undefined) out.push(text);
        continue;
      }
      walk(child, scope, local === 'Domaine' && inOurNamespace, out);
    }
  }
}

function scopeOf(child: unknown, parent: Scope): Scope {
  if (child === null || typeof child !== 'object' || Array.isArray(child)) return parent;
  let scope: Scope | undefined;
  for (const [attr, value] of Object.entries(child as XmlNode)) {
    if (attr === '@_xmlns' || attr.startsWith('@_xmlns:')) {
      scope ??= new Map(parent);
      scope.set(attr === '@_xmlns' ? '' : attr.slice('@_xmlns:'.length), typeof value === 'string' && value !== '' ? value : null);
    }
  }
  return scope ?? parent;
}

function splitName(name: string): { prefix: string; local: string } {
  const colon = name.indexOf(':');
  return colon < 0 ? { prefix: '', local: name } : { prefix: name.slice(0, colon), local: name.slice(colon + 1) };
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const text = (value as XmlNode)['#text'];
    if (typeof text === 'string' || typeof text === 'number') return String(text);
    return '';
  }
  return undefined;
}

function truncate(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}…` : value;
}

function invalidXml(reason: string, cause?: unknown): DirectoryFormatError {
  return new DirectoryFormatError(
    DirectoryErrorCode.WhitelistInvalidXml,
    `The whitelist is not valid XML: ${truncate(reason)}`,
    undefined,
    cause === undefined ? undefined : { cause },
  );
}
