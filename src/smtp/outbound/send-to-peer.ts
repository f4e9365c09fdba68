import { pipeline, type Readable } from 'node:stream';
import { notingStream } from '../../runtime/streamed-garbage.js';
import net from 'node:net';
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import { RevocationIndex } from '../../pki/revocation-index.js';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import type { MedgateConfig } from '../../config/schema.js';
import type { GatewayTls } from '../../pki/index.js';
import type { PeerRoute } from './peer-route.js';
import { installFastDataScans } from '../data-scan/index.js';

/** The outcome for one recipient of one delivery attempt. */
export type RecipientOutcome =
  | { recipient: string; kind: 'delivered'; response: string }
  /** `reason`: for the audit, when not the peer's own refusal (e.g. a domain DNS says does not exist). */
  | { recipient: string; kind: 'permanent'; code: number; response: string; reason?: string }
  | { recipient: string; kind: 'temporary'; response: string };

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  rejected?: string[];
  rejectedErrors?: SmtpError[];
}

/** One line, no CR/LF, bounded: this ends up in the queue, in logs and in delivery reports. */
export function diagnosticOf(err: SmtpError): string {
  const text = err.response ?? `${err.code ?? 'error'}: ${err.message}`;
  return text.replace(/[\r\n]+/g, ' ').slice(0, 300);
}

function classify(recipient: string, err: SmtpError): RecipientOutcome {
  const code = err.responseCode;
  if (code && code >= 500 && code < 600) return { recipient, kind: 'permanent', code, response: diagnosticOf(err) };
  return { recipient, kind: 'temporary', response: diagnosticOf(err) };
}

/**
 * One TLS context per gateway identity and minimum version: building it parses the key and every
 * CA certificate, which cost more than the rest of a relay's handshake when done per delivery.
 */
const contexts = new WeakMap<GatewayTls, Map<string, tls.SecureContext>>();

function secureContextFor(identity: GatewayTls, minVersion: tls.SecureVersion): tls.SecureContext {
  let byVersion = contexts.get(identity);
  if (!byVersion) contexts.set(identity, (byVersion = new Map()));
  let context = byVersion.get(minVersion);
  if (!context) {
    context = tls.createSecureContext({ key: identity.keyPem, cert: identity.certPem, ca: identity.caPem, minVersion });
    byVersion.set(minVersion, context);
  }
  return context;
}

type PeerTransport = nodemailer.Transporter<SMTPPool.SentMessageInfo, SMTPPool.Options>;

/**
 * Open connections to peers, per gateway identity and (host, port, domain): one TLS handshake —
 * ours and the peer's certificate checks — carries many messages instead of one. Each connection
 * is verified when it is made, carries at most PEER_MESSAGES_PER_CONNECTION messages and closes
 * when idle, so a changed peer certificate is seen at the next connection. When the revocation
 * information changes, every pool verified under the old one is closed before the next delivery:
 * a peer revoked meanwhile gets nothing more over a connection it already had.
 */
interface PooledPeer {
  transport: PeerTransport;
  inFlight: number;
  idleTimer?: NodeJS.Timeout;
  /** RevocationIndex.generation its connections were verified under. */
  revocationGeneration: number;
}

const peerTransports = new WeakMap<GatewayTls, Map<string, PooledPeer>>();
const PEER_CONNECTIONS = 4;
const PEER_MESSAGES_PER_CONNECTION = 100;
const PEER_IDLE_MS = 30_000;

function peerTransport(config: MedgateConfig, identity: GatewayTls, route: PeerRoute, domain: string, revocationGeneration: number): PooledPeer {
  installFastDataScans(); // every relayed message is dot-stuffed by nodemailer: with memchr (src/smtp/data-scan)
  let byRoute = peerTransports.get(identity);
  if (!byRoute) peerTransports.set(identity, (byRoute = new Map()));
  const key = `${route.address ?? ''}|${route.host}|${route.port}|${domain}|${config.hostname}|${config.tls.minVersion}`;
  const existing = byRoute.get(key);
  if (existing && existing.revocationGeneration !== revocationGeneration) {
    // Verified under revocation information that has changed since. Closing rejects what it had
    // queued (a temporary failure: retried, over a freshly verified connection).
    if (existing.idleTimer) clearTimeout(existing.idleTimer);
    existing.transport.close();
    byRoute.delete(key);
  }
  if (!byRoute.has(key)) {
    const transport = nodemailer.createTransport({
      pool: true,
      maxConnections: PEER_CONNECTIONS,
      maxMessages: PEER_MESSAGES_PER_CONNECTION,
      // An MX route goes to the address the route's resolver gave (dns.servers), not to whatever
      // getaddrinfo would say for the name; the name stays what the certificate is checked against.
      host: route.address ?? route.host,
      port: route.port,
      secure: false,
      requireTLS: true,
      name: config.hostname,
      connectionTimeout: 15_000,
      greetingTimeout: 15_000,
      socketTimeout: 120_000,
      tls: {
        // Our client certificate and key, the trust anchors for the peer's chain, the minimum version.
        secureContext: secureContextFor(identity, config.tls.minVersion),
        rejectUnauthorized: true,
        // RFC 6066: no IP address as SNI.
        ...(net.isIP(route.host) ? {} : { servername: route.host }),
        checkServerIdentity: (host: string, cert: tls.PeerCertificate) => {
          const hostError = tls.checkServerIdentity(host, cert);
          if (hostError) return hostError;
          const names = (cert.subjectaltname ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4).toLowerCase());
          if (!names.includes(domain)) return new Error(`the peer certificate does not name ${domain}`);
          // The CRLs (refreshed before each delivery): a revoked peer never receives mail.
          const verdict = revocationFor(config).check(chainOf(cert as tls.DetailedPeerCertificate));
          return verdict.ok ? undefined : new Error(verdict.reason);
        },
      },
    });
    byRoute.set(key, { transport, inFlight: 0, revocationGeneration });
  }
  return byRoute.get(key)!;
}

const revocationIndexes = new Map<string, RevocationIndex>();

function revocationFor(config: MedgateConfig): RevocationIndex {
  const k = JSON.stringify([config.pki.crls, config.pki.trustAnchors]);
  let index = revocationIndexes.get(k);
  if (!index) revocationIndexes.set(k, (index = new RevocationIndex(config.pki.crls, config.pki.trustAnchors)));
  return index;
}

/** Leaf first, then the intermediates the peer sent (Node links them through issuerCertificate). */
function chainOf(cert: tls.DetailedPeerCertificate): Buffer[] {
  const chain: Buffer[] = [];
  for (let c: tls.DetailedPeerCertificate | undefined = cert; c?.raw && chain.length < 10; c = c.issuerCertificate === c ? undefined : c.issuerCertificate) {
    chain.push(c.raw);
  }
  return chain;
}

/** Closes every open peer connection of this gateway identity (queue worker shutdown). */
export function closePeerConnections(identity: GatewayTls): void {
  const byRoute = peerTransports.get(identity);
  if (!byRoute) return;
  peerTransports.delete(identity);
  for (const peer of byRoute.values()) {
    if (peer.idleTimer) clearTimeout(peer.idleTimer);
    peer.transport.close();
  }
}

/**
 * Delivers the sealed bytes to one peer gateway, byte for byte, over mandatory TLS with this
 * gateway's client certificate. The peer must present a certificate chaining to our trust anchors
 * and naming the recipient domain: a peer that cannot do TLS, or the wrong peer, is a temporary
 * failure — never a downgrade to clear text.
 */
export async function sendToPeer(opts: {
  config: MedgateConfig;
  tls: GatewayTls;
  route: PeerRoute;
  domain: string;
  envelopeFrom: string;
  recipients: string[];
  /** The sealed bytes, or (large messages) a fresh stream of them at each call: never read whole. */
  sealed: Buffer | (() => Readable);
}): Promise<RecipientOutcome[]> {
  const revocation = revocationFor(opts.config);
  await revocation.refresh();
  const peer = peerTransport(opts.config, opts.tls, opts.route, opts.domain, revocation.generation);
  const { transport } = peer;
  if (peer.idleTimer) clearTimeout(peer.idleTimer);
  peer.inFlight++;
  // A stream nodemailer never reads (peer down, every RCPT refused) would keep its file open: it is
  // destroyed whatever happens.
  // A large message's chunks are counted as they go, so their buffers are freed as it streams.
  const raw = Buffer.isBuffer(opts.sealed) ? opts.sealed : pipeline(opts.sealed(), notingStream(), () => undefined);
  try {
    const info = await transport.sendMail({ envelope: { from: opts.envelopeFrom, to: opts.recipients }, raw });
    const rejected = new Map<string, SmtpError>();
    const errors = (info as { rejectedErrors?: SmtpError[] }).rejectedErrors ?? [];
    (info.rejected as string[]).forEach((r, i) => rejected.set(String(r).toLowerCase(), errors[i] ?? new Error('rejected')));
    return opts.recipients.map((r) => {
      const err = rejected.get(r.toLowerCase());
      return err ? classify(r, err) : { recipient: r, kind: 'delivered' as const, response: String(info.response ?? '250').slice(0, 300) };
    });
  } catch (e) {
    const err = e as SmtpError;
    // All recipients refused at RCPT: each has its own reply.
    if (err.rejectedErrors?.length && err.rejected?.length) {
      const byAddress = new Map(err.rejected.map((r, i) => [String(r).toLowerCase(), err.rejectedErrors![i] ?? err]));
      return opts.recipients.map((r) => classify(r, byAddress.get(r.toLowerCase()) ?? err));
    }
    return opts.recipients.map((r) => classify(r, err));
  } finally {
    if (!Buffer.isBuffer(raw)) raw.destroy();
    // Idle for PEER_IDLE_MS: close its connections; the next delivery opens a freshly verified one.
    if (--peer.inFlight === 0) {
      peer.idleTimer = setTimeout(() => {
        const byRoute = peerTransports.get(opts.tls);
        for (const [key, p] of byRoute ?? []) if (p === peer) byRoute!.delete(key);
        transport.close();
      }, PEER_IDLE_MS);
      peer.idleTimer.unref();
    }
  }
}
