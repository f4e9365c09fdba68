import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import type * as openpgp from 'openpgp';
import type { ResolveSigner, RoutingHeader, Verification } from '../crypto/seal/index.js';
import { isMedgateError, MedgateError } from '../errors.js';
import type { MessageSealer } from '../message/sealer.js';
import { toCrlf } from '../util/crlf.js';
import { isSmimeMessage } from '../crypto/smime/index.js';
import type { SmimeReader } from './smime-reader.js';
import { isOwnCopyAead } from '../crypto/seal/own-copy-aead.js';
import { CryptoError, CryptoErrorCode } from '../crypto/errors.js';
import { alteredAtRest, storedBytesAltered } from './stored-bytes.js';

/** What the first opening of a stored message established; cached (encrypted) so every session agrees. */
export interface OpenedFacts {
  /**
   * 2: bytes served with CRLF line endings and no verdict fields above the user's own copies.
   * Facts of version 1 keep their pinned signer and patient folder, but size and prefix are redone.
   */
  v: 1 | 2;
  /** Header fields medgate puts above the original headers (verification result, signer identity). */
  prefix: string;
  /** Size of prefix + original bytes: RFC822.SIZE, stable across sessions. */
  size: number;
  /** Stored by the user himself (APPEND): served exactly as appended, without a verdict prefix. */
  ownCopy?: boolean;
  /** Fingerprint that verified at first opening (later revocation does not make old mail unreadable). */
  fingerprint: string | null;
  /** Not to be streamed: its content holds NUL bytes (served without CRLF conversion, see toCrlf). */
  noStream?: boolean;
  /** Set when the message could not be opened: the code shown in its placeholder. */
  error: string | null;
  /** Patient folder display name (`NOM Prénom (AAAA-MM-JJ)`), from the routing header. */
  patientFolder: string | null;
}

export interface OpenedMessage {
  bytes: Buffer;
  facts: OpenedFacts;
  routing: RoutingHeader | null;
  /** The cached facts given were not this message's (see openStored): the caller rewrites them. */
  cacheRejected?: boolean;
}

const CRLF = '\r\n';
/**
 * Fields a sender could forge inside the message to impersonate medgate's verdict, or the routing
 * fields a record server files by (a forged X-Medgate-Route-Patient-INS where the real one is
 * absent would be the only one it sees). X-Medgate-Patient-* stay: they are the sender's input;
 * so does X-Medgate-Transport-Only, which the gateway itself writes into the content it seals.
 */
const OURS = /^(x-medgate-signature|x-medgate-signer|x-medgate-transport|x-medgate-route-[a-z0-9-]+)\s*:/im;

export function headerValue(text: string): string {
  return /^[\x20-\x7e]*$/.test(text) ? text : mimeFuncs.encodeWords(text, 'Q', 60);
}

export function patientFolderOf(routing: RoutingHeader | null): string | null {
  const p = routing?.patient;
  if (!p) return null;
  // Folder names cannot hold the hierarchy delimiter.
  const clean = (s: string) => s.replace(/[/\\\r\n\t]/g, ' ').replace(/\s+/g, ' ').trim();
  return `${clean(p.familyName).toUpperCase()} ${clean(p.givenName)} (${p.birthDate})`;
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A sender's own copies of our verdict fields are renamed so they cannot pass as medgate's. */
export function neutraliseForgedFields(raw: Buffer): Buffer {
  const end = raw.indexOf('\r\n\r\n') >= 0 ? raw.indexOf('\r\n\r\n') : raw.indexOf('\n\n');
  const head = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
  if (!OURS.test(head)) return raw;
  const fixed = head.replace(new RegExp(OURS.source, 'gim'), (m) => 'X-Untrusted-' + m.slice(2));
  return Buffer.concat([Buffer.from(fixed, 'latin1'), raw.subarray(head.length)]);
}

/** The clear routing fields a record server files by (docs/record-server.md). */
export function routingFields(routing: RoutingHeader, verification: { signer: string; fingerprint: string }): string {
  const p = routing.patient;
  const docs = (routing as RoutingHeader & { documents?: unknown }).documents;
  const fields: Array<[string, string | null | undefined]> = [
    ['X-Medgate-Route-Verified', `valid; signer=${verification.signer}; fingerprint=${verification.fingerprint}`],
    ['X-Medgate-Route-Message-Id', routing.messageId || null],
    ['X-Medgate-Route-Patient-Family', p?.familyName],
    ['X-Medgate-Route-Patient-Given', p?.givenName],
    ['X-Medgate-Route-Patient-Birthdate', p?.birthDate],
    ['X-Medgate-Route-Patient-Sex', p?.sex],
    ['X-Medgate-Route-Patient-INS', p?.ins ? `${p.ins.value}^^^&${p.ins.oid}&ISO` : null],
    ['X-Medgate-Route-Document-Type', routing.document.type],
    ['X-Medgate-Route-Document-Date', routing.document.date],
    ['X-Medgate-Route-Document-Title', routing.document.title],
    ['X-Medgate-Route-Documents', docs ? Buffer.from(JSON.stringify(docs)).toString('base64') : null],
    ['X-Medgate-Route-Authors', claimedAuthors(routing)],
    ['X-Medgate-Route-Sender', routing.sender.address],
    ['X-Medgate-Route-Sender-Id', routing.sender.nationalId],
    ['X-Medgate-Route-Sender-Profession', [routing.sender.professionCode, routing.sender.professionLabel].filter(Boolean).join(' ') || null],
    ['X-Medgate-Route-Sender-Specialty', routing.sender.specialtyCode],
    ['X-Medgate-Route-Sender-Role', routing.sender.role],
    ['X-Medgate-Route-Transport', routing.transport
      ? `mssante; operator=${routing.transport.peerDomain}; peer=${routing.transport.peerSubject}; fingerprint=${routing.transport.peerFingerprint}; end-to-end=${routing.transport.endToEnd}`
      : null],
  ];
  return fields.filter(([, v]) => v).map(([k, v]) => `${k}: ${headerValue(v!)}${CRLF}`).join('');
}

/**
 * The authors parts claim (HPRIM lab, XDM authorPerson), with their transmitter: base64 JSON
 * `[{part, mark}]`, or null when no part claims one. Claims only: whether an author is verified is
 * the filing store's verdict (src/filing/authors.ts), given by the API, the console and `patients show`.
 */
function claimedAuthors(routing: RoutingHeader): string | null {
  const claims = (routing.documents ?? []).filter((d) => d.author);
  if (!claims.length) return null;
  const list = claims.map((d) => ({
    part: d.part,
    mark: `transmitted by ${routing.sender.address}, author claimed: ${d.author!.name ?? d.author!.id ?? 'unnamed'} (${d.author!.source}), not verified by these fields`,
  }));
  return Buffer.from(JSON.stringify(list)).toString('base64');
}

async function routingView(opts: { sealer: MessageSealer; sealed: Buffer; blobId: string; ownKey: openpgp.PrivateKey; domain: string; internalDate: Date; known?: OpenedFacts }): Promise<OpenedMessage> {
  const { known } = opts;
  try {
    const res = await opts.sealer.openRoutingWith(opts.sealed, opts.ownKey);
    const prefix = known?.prefix ?? routingFields(res.routing, res.verification);
    const bytes = Buffer.concat([Buffer.from(prefix, 'utf8'), opts.sealed]);
    return {
      bytes, routing: res.routing,
      facts: { v: 2, prefix, size: bytes.length, fingerprint: known?.fingerprint ?? res.verification.fingerprint, error: null, patientFolder: known?.patientFolder ?? patientFolderOf(res.routing) },
    };
  } catch (err) {
    if (!isMedgateError(err)) throw err;
    const bytes = placeholder(err.code, err.message, opts.domain, opts.blobId, opts.internalDate);
    return { bytes, routing: null, facts: { v: 2, prefix: '', size: bytes.length, fingerprint: null, error: err.code, patientFolder: null } };
  }
}

/** The verdict fields above a message from someone else: who signed, as the directory knows him. */
export function verdictPrefix(v: Verification, routing: RoutingHeader | null): string {
  if ((v.identity as { transport?: unknown } | undefined)?.transport) return transportVerdict(routing);
  const id = (v.identity ?? {}) as Record<string, string | null | undefined>;
  const who = [id.name, id.profession, id.specialty, id.organisation, id.nationalId ? `id ${id.nationalId}` : null].filter(Boolean).join(', ');
  return `X-Medgate-Signature: valid; signer=${v.signer}; fingerprint=${v.fingerprint}${CRLF}` +
    (who ? `X-Medgate-Signer: ${headerValue(who)}${CRLF}` : '');
}

/**
 * The verdict on mail this gateway sealed on arrival from an MSSanté operator (its intake key
 * signed it): what protected it on its way, from the signed routing header. No author signed it end
 * to end unless the S/MIME result says so.
 */
export function transportVerdict(routing: RoutingHeader | null): string {
  const t = routing?.transport;
  if (!t) throw new MedgateError('ROUTING_MISSING', 'mail signed by the intake key carries no transport facts');
  const endToEnd = t.endToEnd === 'none' ? 'not signed end to end' : `S/MIME signature: ${t.endToEnd}`;
  const who = [t.sender.name, routing.sender.professionLabel, t.sender.organisation, routing.sender.nationalId ? `id ${routing.sender.nationalId}` : null].filter(Boolean).join(', ');
  return `X-Medgate-Signature: ${headerValue(`transport; operator=${t.peerDomain}; sender=${t.sender.address} (directory); ${endToEnd}`)}${CRLF}` +
    `X-Medgate-Transport: ${headerValue(`MSSante mutual TLS; peer=${t.peerSubject}; fingerprint=${t.peerFingerprint}`)}${CRLF}` +
    (who ? `X-Medgate-Signer: ${headerValue(who)}${CRLF}` : '');
}

function placeholder(code: string, message: string, domain: string, blobId: string, date: Date): Buffer {
  const lines = [
    `From: medgate <postmaster@${domain}>`,
    `Subject: ${headerValue('[medgate] Message illisible / message could not be opened')}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <unreadable.${blobId.slice(0, 32)}@${domain}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Ce message chiffré n\'a pas pu être ouvert avec votre clé.',
    'This encrypted message could not be opened with your key.',
    '',
    `Code: ${code}`,
    `Raison / reason: ${message}`,
    '',
    'Le message reste conservé chiffré ; contactez votre administrateur medgate.',
    'The message is kept sealed; contact your medgate administrator.',
    '',
  ];
  return Buffer.from(lines.join(CRLF), 'utf8');
}

function signedByOwnKey(v: Verification, ownKey: openpgp.PrivateKey): boolean {
  return v.fingerprint.toLowerCase() === ownKey.getFingerprint().toLowerCase();
}

/**
 * The owner's copy sealed under his account key (docs/secure-message-format.md §5.2): served byte
 * for byte as appended (CRLF line ends), no verdict above it; a copy that does not authenticate is a
 * placeholder naming why, as for any message that does not open.
 */
async function ownCopyAead(opts: { sealed: Buffer; blobId: string; owner: string; domain: string; internalDate: Date; ownCopies?: { openOwnCopy(sealed: Uint8Array, owner: string): Promise<Buffer> } }): Promise<OpenedMessage> {
  try {
    if (!opts.ownCopies) throw new CryptoError(CryptoErrorCode.NOT_FOR_THIS_KEY, 'The own copy is sealed under its owner\'s account key, which this reader does not hold');
    const original = toCrlf(await opts.ownCopies.openOwnCopy(opts.sealed, opts.owner));
    return {
      bytes: original, routing: null,
      facts: { v: 2, prefix: '', size: original.length, fingerprint: null, error: null, patientFolder: null, ownCopy: true, ...(original.includes(0) ? { noStream: true } : {}) },
    };
  } catch (err) {
    if (!isMedgateError(err)) throw err;
    const bytes = placeholder(err.code, err.message, opts.domain, opts.blobId, opts.internalDate);
    return { bytes, routing: null, facts: { v: 2, prefix: '', size: bytes.length, fingerprint: null, error: err.code, patientFolder: null } };
  }
}

/**
 * Opens a stored sealed message for its owner: decrypts, verifies the signer against the directory
 * (or, for mail the owner stored himself, against his own key), and prefixes the verdict. A message
 * that cannot be opened becomes a readable placeholder naming the error, so a client never fails.
 */
export async function openStored(opts: {
  sealer: MessageSealer;
  sealed: Buffer;
  blobId: string;
  owner: string;
  ownKey: openpgp.PrivateKey;
  domain: string;
  internalDate: Date;
  known?: OpenedFacts;
  /** `routing`: a record server's view — sealed bytes under clear, verified routing fields. */
  view?: 'opened' | 'routing';
  /** Opens S/MIME mail (src/mailbox/smime-reader.ts); without it S/MIME shows as a placeholder. */
  smime?: SmimeReader;
  /** Opens the owner's copies sealed under his account key (§5.2; MetaKey.openOwnCopy). */
  ownCopies?: { openOwnCopy(sealed: Uint8Array, owner: string): Promise<Buffer> };
}): Promise<OpenedMessage> {
  const { sealer, ownKey, owner, known } = opts;
  // Cached facts (the verdict above the message) hold for the bytes of this blob id only: entries
  // are bound to it (MetaKey.encrypt), and bytes that do not hash to it are not this message.
  if (await storedBytesAltered(opts.sealed, opts.blobId)) {
    // Not the message it was: shown as a notice, and the facts cached for it are not its.
    const err = alteredAtRest();
    const bytes = placeholder(err.code, err.message, opts.domain, opts.blobId, opts.internalDate);
    return { bytes, routing: null, cacheRejected: true, facts: { v: 2, prefix: '', size: bytes.length, fingerprint: null, error: err.code, patientFolder: null } };
  }
  if (opts.view !== 'routing' && isOwnCopyAead(opts.sealed)) return ownCopyAead(opts);
  if (opts.view === 'routing') return routingView(opts);
  const ownKeyIds = new Set(ownKey.getKeyIDs().map((k) => k.toHex()));
  let ownCopy = false;
  const resolveSigner: ResolveSigner = async (ref) => {
    const resolved = await sealer.resolveSigner(ref);
    if (resolved && known?.fingerprint && resolved.publicKey.getFingerprint() === known.fingerprint) {
      return { ...resolved, status: 'active' };
    }
    if ((!resolved || !ref.keyIds.some((id) => resolved.publicKey.getKeyIDs().some((k) => k.toHex() === id))) &&
        ref.keyIds.some((id) => ownKeyIds.has(id))) {
      ownCopy = true; // stored by the owner (APPEND): sealed with his own key
      return { publicKey: ownKey.toPublic(), status: 'active', identity: { address: owner } };
    }
    return resolved;
  };
  try {
    let res: { raw: Uint8Array; routing: RoutingHeader | null; verification: Verification };
    // Client-encrypted S/MIME (medgate/1 body=client-encrypted) is served as it came: the reader's own client opens it.
    if (opts.smime && isSmimeMessage(opts.sealed) && !sealer.inspect(opts.sealed).alreadyEncrypted) {
      // S/MIME (a peer's, or medgate's S/MIME copy): same verdict fields, chain checked against the PKI.
      res = await opts.smime.open(opts.sealed, known?.fingerprint);
    } else {
      // In the worker pool when the server has one; inline otherwise, and when the pooled lookup of the
      // signer (by the outer From) was not enough to resolve it.
      const pooled = await sealer.openInPool(opts.sealed, ownKey, owner, known?.fingerprint ?? null);
      // SIGNATURE_INVALID too: a message sealed at MSSanté intake is signed by the gateway's intake
      // key, which only the inline lookup knows (the pooled one resolves the outer From's key).
      if (pooled && !pooled.ok && pooled.code !== 'SIGNER_UNKNOWN' && pooled.code !== 'SIGNATURE_INVALID') {
        if (!pooled.code) throw new Error(pooled.message);
        throw new MedgateError(pooled.code, pooled.message, pooled.details);
      }
      if (pooled?.ok) ownCopy = pooled.ownCopy;
      res = pooled?.ok ? pooled : await sealer.openWith(opts.sealed, ownKey, resolveSigner);
    }
    // Recorded at APPEND time (the signer lookup cannot tell: a person's directory key is his own key,
    // and a record re-addressed to its author is signed by him too but is delivered mail), or by the
    // verdict of version 1 facts.
    // Only for a message his own key signed: one moved onto a third party's message (by someone who
    // can write the store) must not take away that message's verdict and the renaming of forged
    // verdict fields. Entries are bound to their message (MetaKey.encrypt, §5.3); this stays, as a
    // second check that costs nothing.
    const claimsOwn = !!known && (known.ownCopy === true || known.prefix === '' || known.prefix.startsWith('X-Medgate-Signature: own-copy'));
    if (claimsOwn && signedByOwnKey(res.verification, ownKey)) ownCopy = true;
    // Cached facts that call a message the owner's own when his key did not sign it are not this
    // message's: not used.
    const trusted = claimsOwn && !ownCopy ? undefined : known;
    // The user's own copies (Sent, Drafts) come back byte for byte as appended (RFC 3501 §6.3.11):
    // no verdict above them, and nothing to neutralise, since no third party wrote them.
    const original = toCrlf(ownCopy ? asBuffer(res.raw) : neutraliseForgedFields(asBuffer(res.raw)));
    const prefix = ownCopy ? '' : trusted?.prefix ?? verdictPrefix(res.verification, res.routing);
    const bytes = prefix ? Buffer.concat([Buffer.from(prefix, 'utf8'), original]) : original;
    return {
      bytes,
      routing: res.routing,
      ...(known && !trusted ? { cacheRejected: true } : {}),
      facts: {
        v: 2, prefix, size: bytes.length, fingerprint: trusted?.fingerprint ?? (ownCopy ? null : res.verification.fingerprint),
        error: null, patientFolder: trusted?.patientFolder ?? patientFolderOf(res.routing), ...(ownCopy ? { ownCopy: true } : {}),
        // toCrlf leaves content with a NUL byte as it is, which a stream cannot know in advance.
        ...(original.includes(0) ? { noStream: true } : {}),
      },
    };
  } catch (err) {
    if (!isMedgateError(err)) throw err;
    const bytes = placeholder(err.code, err.message, opts.domain, opts.blobId, opts.internalDate);
    return { bytes, routing: null, facts: { v: 2, prefix: '', size: bytes.length, fingerprint: null, error: err.code, patientFolder: null } };
  }
}
