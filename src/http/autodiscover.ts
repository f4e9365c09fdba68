import type http from 'node:http';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { MedgateConfig } from '../config/schema.js';
import { isValidMailAddress } from '../directory/ans-import.js';
import type { Logger } from '../log.js';
import type { RouteHandler } from './http-server.js';

/**
 * Outlook autodiscover, the "POX" protocol ([MS-OXDSCLI]) Outlook uses to set up IMAP/SMTP
 * accounts: Outlook POSTs the address and the response schema it accepts, and gets the same
 * settings the Thunderbird autoconfig gives (src/http/autoconfig.ts): the gateway's host name,
 * IMAP and SMTP submission over implicit TLS, the full address as login name, no SPA.
 *
 * Every address of the gateway's domain gets the same answer, whether an account exists or not:
 * the endpoint is unauthenticated and must not tell who has a mailbox. Addresses of other domains
 * are refused. The request's text is never echoed back (error messages are fixed) and the address
 * is escaped wherever it appears in the answer.
 */
export const AUTODISCOVER_PATH = '/autodiscover/autodiscover.xml';
export const REQUEST_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006';
export const RESPONSE_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006';
export const OUTLOOK_RESPONSE_SCHEMA = 'http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a';
/** A real request is a few hundred bytes. */
export const MAX_REQUEST_BYTES = 16 * 1024;

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

export function autodiscoverSettingsXml(config: MedgateConfig, address: string): string {
  const host = xmlEscape(config.hostname);
  const login = xmlEscape(address);
  const l = config.listen;
  // Implicit TLS for both, as the first choices of the Thunderbird autoconfig. <Encryption>
  // overrides <SSL> for clients that know it; <SSL>on</SSL> is for those that do not.
  const protocol = (type: 'IMAP' | 'SMTP', port: number, extra = ''): string => `      <Protocol>
        <Type>${type}</Type>
        <Server>${host}</Server>
        <Port>${port}</Port>
        <DomainRequired>off</DomainRequired>
        <LoginName>${login}</LoginName>
        <SPA>off</SPA>
        <SSL>on</SSL>
        <Encryption>SSL</Encryption>
        <AuthRequired>on</AuthRequired>
${extra}      </Protocol>
`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${RESPONSE_SCHEMA}">
  <Response xmlns="${OUTLOOK_RESPONSE_SCHEMA}">
    <Account>
      <AccountType>email</AccountType>
      <Action>settings</Action>
${protocol('IMAP', l.imapTls)}${protocol('SMTP', l.smtpSubmissionTls, '        <UsePOPAuth>off</UsePOPAuth>\n        <SMTPLast>off</SMTPLast>\n')}    </Account>
  </Response>
</Autodiscover>
`;
}

/** Error codes of [MS-OXDSCLI]: 500 the address is not served here, 600 the request is not valid. */
type ErrorCode = 500 | 600;
const ERROR_MESSAGES: Record<ErrorCode, string> = { 500: 'The e-mail address cannot be found.', 600: 'Invalid Request' };

export function autodiscoverErrorXml(code: ErrorCode, now = new Date()): string {
  // As Exchange answers: a request error under a Response of the outer schema, an address error
  // under the Outlook response schema. Time is the time of day (UTC).
  const response = code === 600 ? '<Response>' : `<Response xmlns="${OUTLOOK_RESPONSE_SCHEMA}">`;
  return `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="${RESPONSE_SCHEMA}">
  ${response}
    <Error Time="${now.toISOString().slice(11, 23)}">
      <ErrorCode>${code}</ErrorCode>
      <Message>${ERROR_MESSAGES[code]}</Message>
      <DebugData />
    </Error>
  </Response>
</Autodiscover>
`;
}

/** Why a request was refused: the log's and the metrics' only detail. */
export type AutodiscoverRefusal =
  | 'method' | 'content-type' | 'too-large' | 'not-utf8' | 'malformed' | 'not-a-request' | 'schema' | 'address' | 'other-domain';

export type ParsedRequest = { ok: true; address: string } | { ok: false; reason: AutodiscoverRefusal };

type XmlNode = Record<string, unknown>;

function isNode(v: unknown): v is XmlNode {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The text of an element that has no attributes and no children; anything else is undefined. */
function textOf(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  return undefined;
}

/** Reads the POX request ([MS-OXDSCLI] 2.2.3): one Request with an EMailAddress and the schema. */
export function parseAutodiscoverRequest(text: string, domain: string): ParsedRequest {
  const xml = text.replace(/^\uFEFF/, '');
  // A request never needs a DTD; refusing one closes the door to entity expansion.
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) return { ok: false, reason: 'malformed' };
  let valid: ReturnType<typeof XMLValidator.validate>;
  try {
    valid = XMLValidator.validate(xml);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (valid !== true) return { ok: false, reason: 'malformed' };
  let root: unknown;
  try {
    root = new XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '@_',
      parseTagValue: false,
      parseAttributeValue: false,
      trimValues: true,
      processEntities: true,
      htmlEntities: false,
      ignoreDeclaration: true,
      ignorePiTags: true,
    }).parse(xml);
  } catch {
    return { ok: false, reason: 'malformed' };
  }
  if (!isNode(root)) return { ok: false, reason: 'not-a-request' };
  const top = Object.keys(root);
  const autodiscover = root['Autodiscover'];
  if (top.length !== 1 || !isNode(autodiscover) || autodiscover['@_xmlns'] !== REQUEST_SCHEMA) return { ok: false, reason: 'not-a-request' };
  const request = autodiscover['Request'];
  if (!isNode(request)) return { ok: false, reason: 'not-a-request' };
  const schema = textOf(request['AcceptableResponseSchema']);
  if (schema !== OUTLOOK_RESPONSE_SCHEMA) return { ok: false, reason: 'schema' };
  const given = textOf(request['EMailAddress']);
  if (given === undefined) return { ok: false, reason: 'address' };
  const address = given.trim().toLowerCase();
  if (!isValidMailAddress(address)) return { ok: false, reason: 'address' };
  if (address.slice(address.lastIndexOf('@') + 1) !== domain.toLowerCase()) return { ok: false, reason: 'other-domain' };
  return { ok: true, address };
}

type Body = { ok: true; bytes: Buffer } | { ok: false; reason: 'too-large' } | { ok: false; reason: 'aborted' };

function readBody(req: http.IncomingMessage, max: number): Promise<Body> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) return Promise.resolve({ ok: false, reason: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (b: Body): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(b);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        // Stop buffering; the rest is discarded and the connection closed after the answer.
        req.pause();
        finish({ ok: false, reason: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish({ ok: true, bytes: Buffer.concat(chunks) }));
    req.once('error', () => finish({ ok: false, reason: 'aborted' }));
    req.once('close', () => finish({ ok: false, reason: 'aborted' }));
  });
}

const STATUS: Record<AutodiscoverRefusal, number> = {
  method: 405,
  'content-type': 415,
  'too-large': 413,
  'not-utf8': 400,
  malformed: 400,
  'not-a-request': 400,
  schema: 400,
  address: 400,
  'other-domain': 404,
};

function isXmlContentType(value: string | undefined): boolean {
  const type = (value ?? '').split(';')[0]!.trim().toLowerCase();
  return type === 'text/xml' || type === 'application/xml';
}

/**
 * The route, by lower-cased path: Outlook asks `/Autodiscover/Autodiscover.xml`, other clients the
 * lower-case form. Logs the decision only: never the address, the domain asked or the body.
 */
export function autodiscoverRoutes(config: MedgateConfig, logger: Logger): Record<string, RouteHandler> {
  const answer = (res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, {
      'content-type': 'text/xml; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      ...headers,
    });
    res.end(body);
  };
  const refuse = (res: http.ServerResponse, reason: AutodiscoverRefusal, headers: Record<string, string> = {}): void => {
    logger.info({ outcome: 'refused', reason }, 'autodiscover');
    answer(res, STATUS[reason], autodiscoverErrorXml(reason === 'other-domain' ? 500 : 600), headers);
  };
  const serve: RouteHandler = async (req, res) => {
    if (req.method !== 'POST') return refuse(res, 'method', { allow: 'POST' });
    if (!isXmlContentType(req.headers['content-type'])) return refuse(res, 'content-type', { connection: 'close' });
    const body = await readBody(req, MAX_REQUEST_BYTES);
    if (!body.ok) {
      if (body.reason === 'aborted') { res.destroy(); return; }
      return refuse(res, body.reason, { connection: 'close' });
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body.bytes);
    } catch {
      return refuse(res, 'not-utf8');
    }
    const parsed = parseAutodiscoverRequest(text, config.domain);
    if (!parsed.ok) return refuse(res, parsed.reason);
    logger.info({ outcome: 'settings' }, 'autodiscover');
    answer(res, 200, autodiscoverSettingsXml(config, parsed.address));
  };
  return { [AUTODISCOVER_PATH]: serve };
}
