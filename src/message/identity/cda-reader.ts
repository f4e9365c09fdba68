/**
 * Reads the header of a CDA R2 document found in an XDM archive (issue 28 item 3): its `code` (the
 * document type, JDV_J07), title, template ids and, for a non-structured body (N1), the body's media
 * type. The archive's metadata says the same in principle; a sender whose metadata lacks a typeCode
 * still has its documents typed from their CDA header (xdm.ts).
 *
 * Only the header is parsed: the text up to the body (`<component>`, which CDA puts last) is read,
 * closed, and given to the parser, so a 20 MB base64 PDF is never turned into an object tree. A
 * declaration of entities or a DOCTYPE refuses the document (billion laughs), as for METADATA.XML.
 */
import { identityXmlParser } from './xml-parser.js';
import type { XdmCode } from './xdm-metadata.js';

export interface CdaHeader {
  code?: XdmCode;
  title?: string;
  templateIds: string[];
  /** `component/nonXMLBody/text/@mediaType` of an N1 document. */
  nonXmlMediaType?: string;
}

const parser = identityXmlParser((name) => name === 'templateId');

type Node = Record<string, unknown>;

/** A CDA header is a few kilobytes; past this the text is not read as one (no parse of an unbounded tree). */
const MAX_HEADER_CHARS = 1024 * 1024;

const BODY = /<(?:[A-Za-z_][\w.-]*:)?component[\s>]/;
const NON_XML_TEXT = /<(?:[A-Za-z_][\w.-]*:)?nonXMLBody[\s>][\s\S]{0,200}?<(?:[A-Za-z_][\w.-]*:)?text\b[^>]*?\smediaType\s*=\s*["']([^"']{1,100})["']/;
const ROOT = /<((?:[A-Za-z_][\w.-]*:)?ClinicalDocument)[\s>]/;

/** The header of a CDA document, or undefined when the text is not one (or is refused). */
export function readCdaHeader(xml: string): CdaHeader | undefined {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return undefined;
  const root = ROOT.exec(xml);
  if (!root) return undefined;
  const body = BODY.exec(xml);
  const header = body ? `${xml.slice(0, body.index)}</${root[1]}>` : xml;
  if (header.length > MAX_HEADER_CHARS) return undefined;
  let doc: Node;
  try {
    doc = parser.parse(header) as Node;
  } catch {
    return undefined;
  }
  const cd = doc['ClinicalDocument'];
  if (!cd || typeof cd !== 'object') return undefined;
  const n = cd as Node;
  const result: CdaHeader = { templateIds: nodes(n['templateId']).map((t) => attr(t, 'root')).filter((r): r is string => !!r) };
  const code = nodes(n['code'])[0];
  const value = code ? attr(code, 'code') : undefined;
  if (code && value) {
    result.code = { code: value };
    const system = attr(code, 'codeSystem');
    if (system) result.code.codingScheme = system;
    const label = attr(code, 'displayName');
    if (label) result.code.displayName = label;
  }
  const title = text(n['title']);
  if (title) result.title = title.trim().slice(0, 200);
  const media = body ? NON_XML_TEXT.exec(xml.slice(body.index, body.index + 4096))?.[1] : undefined;
  if (media) result.nonXmlMediaType = media.trim().toLowerCase();
  return result;
}

function nodes(v: unknown): Node[] {
  if (Array.isArray(v)) return v.filter((x): x is Node => !!x && typeof x === 'object');
  return v && typeof v === 'object' ? [v as Node] : [];
}

function attr(n: Node, name: string): string | undefined {
  const v = n[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && '#text' in v) return text((v as Node)['#text']);
  return undefined;
}
