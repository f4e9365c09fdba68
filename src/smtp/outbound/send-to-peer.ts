import net from 'node:net';
import tls from 'node:tls';
import nodemailer from 'nodemailer';
import type { MedgateConfig } from '../../config/schema.js';
import type { GatewayTls } from '../../init/gateway-tls.js';
import type { PeerRoute } from './peer-route.js';

/** The outcome for one recipient of one delivery attempt. */
export type RecipientOutcome =
  | { recipient: string; kind: 'delivered'; response: string }
  | { recipient: string; kind: 'permanent'; code: number; response: string }
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
  sealed: Buffer;
}): Promise<RecipientOutcome[]> {
  const { route, domain } = opts;
  const transport = nodemailer.createTransport({
    host: route.host,
    port: route.port,
    secure: false,
    requireTLS: true,
    name: opts.config.hostname,
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 120_000,
    tls: {
      key: opts.tls.keyPem,
      cert: opts.tls.certPem,
      ca: opts.tls.caPem,
      minVersion: opts.config.tls.minVersion,
      rejectUnauthorized: true,
      // RFC 6066: no IP address as SNI.
      ...(net.isIP(route.host) ? {} : { servername: route.host }),
      checkServerIdentity: (host: string, cert: tls.PeerCertificate) => {
        const hostError = tls.checkServerIdentity(host, cert);
        if (hostError) return hostError;
        const names = (cert.subjectaltname ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4).toLowerCase());
        return names.includes(domain) ? undefined : new Error(`the peer certificate does not name ${domain}`);
      },
    },
  });
  try {
    const info = await transport.sendMail({ envelope: { from: opts.envelopeFrom, to: opts.recipients }, raw: opts.sealed });
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
    transport.close();
  }
}
