import fs from 'node:fs/promises';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { SMTPServer, type SMTPServerAddress, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';
import type { GatewayContext } from '../../context.js';
import { isMedgateError } from '../../errors.js';
import { ConnectionGuard } from '../../net/connection-guard.js';
import { guardSmtpServer, type SmtpGuard } from '../connection-limits.js';
import { closeSmtpServer } from '../close-idle.js';
import { DeliveryService } from '../delivery.js';
import { judgePeer, peerChainPem, type PeerIdentity } from './peer-certificate.js';
import { TrustStore, type GatewayTls } from '../../pki/index.js';
import { isSmtpReply, replies, replyForUnexpected, type SmtpReply } from '../replies.js';
import { checkRecipient, checkSender, checkSealedMessage, type RelayDenial } from './relay-checks.js';
import { readMessageStart, readToMemory, restream, type MessageStart } from './message-start.js';
import { endToEndSignature, intakeDecision, sealIntake } from '../mssante/intake.js';
import { Readable } from 'node:stream';
import { materialise, removeSpool, spoolToFile } from './spool.js';
import { readRawWhole } from '../../util/spool-file.js';
import { checkSmimeMessage } from './smime-checks.js';
import { isSmimeHeader } from '../../crypto/smime/index.js';
import { recordDenial } from '../../filing/index.js';
import type { SealedBytes } from '../../store/types.js';
import { installFastDataScans } from '../data-scan/index.js';

/** Whether a header block claims medgate/1 (then the routing header decides, whatever the body). */
function isMedgateFormat(head: Buffer): boolean {
  return /^x-medgate-format\s*:/im.test(head.toString('latin1'));
}

/** Sealed header blocks are a few KB; a peer's that does not end within 1 MiB is not medgate/1. */
const HEADER_BLOCK_MAX = 1024 * 1024;
/** Up to this size a relayed message is stored in the database, beyond as a file. */
const IN_MEMORY_MAX = 1024 * 1024;

export interface RunningRelay {
  port: number;
  close(): Promise<void>;
}

export interface RelayOptions {
  tls: GatewayTls;
  /** The relay's connection limits (default: built from limits.connections.relay, not in /metrics). */
  guard?: ConnectionGuard;
  /** Default: ctx.config.listen.host / listen.smtpRelay. */
  host?: string;
  port?: number;
}

/**
 * The peer relay port: other gateways deliver sealed mail for local mailboxes here.
 *
 * STARTTLS is mandatory (port-25 style, as MSSanté operators do) and mutual: the peer's client
 * certificate is requested during the handshake and judged by `judgePeer` (chain, CRL, gateway
 * purpose), then judged again against the current CRLs at every MAIL FROM. Refusals happen at MAIL FROM (TLS, certificate, domain, sender), RCPT TO (local
 * mailbox) and end of DATA (sealed, routing header signed by the envelope sender and opened with
 * this gateway's filing key) — each with a precise reply and an audit record. Plain MIME from an
 * MSSanté sender (no medgate/1 key) passes the same MAIL and RCPT checks and is sealed on arrival
 * (src/smtp/mssante/intake.ts), held in memory only.
 */
export async function startRelay(ctx: GatewayContext, opts: RelayOptions): Promise<RunningRelay> {
  const { config, logger } = ctx;
  const delivery = new DeliveryService(ctx);
  const peers = new WeakMap<SMTPServerSession, PeerIdentity>();
  /** The chain each peer presented at the handshake: re-judged at each MAIL FROM. */
  const chains = new WeakMap<SMTPServerSession, string | undefined>();
  const trust = new TrustStore(config.pki.trustAnchors, config.pki.crls);
  const spoolDir = path.join(config.dataDir, 'spool');

  const refuse = async (session: SMTPServerSession, err: SmtpReply, details: Record<string, unknown>, stage: string): Promise<SmtpReply> => {
    const peer = peers.get(session);
    const actor = peer?.ok ? `peer:${peer.names[0]}` : `peer:${session.remoteAddress}`;
    logger.info({ stage, code: err.reason, reply: err.responseCode, remote: session.remoteAddress, ...details }, 'relay refused');
    try {
      await ctx.audit.refused({ actor, action: `smtp.relay.${stage}.refused`, outcome: 'refused', details: { code: err.reason, reply: err.responseCode, ...details }, source: session.remoteAddress, reason: err.reason });
    } catch (auditErr) {
      // The refusal stands even if the audit store is down; the log line above keeps the trace.
      logger.error({ stage, code: (auditErr as { code?: string }).code ?? (auditErr as Error).name }, 'audit record failed');
    }
    return err;
  };
  // Every hook answers through one path: an SmtpReply becomes its reply; anything else is a
  // temporary failure (the peer retries) and is logged without content.
  const run = (session: SMTPServerSession, stage: string, details: Record<string, unknown>, cb: (err?: Error | null) => void, fn: () => Promise<void>): void => {
    fn().then(() => cb(), async (err: unknown) => {
      if (isSmtpReply(err)) { cb(await refuse(session, err, details, stage)); return; }
      logger.error({ stage, code: isMedgateError(err) ? err.code : (err as Error).name }, 'relay internal error');
      cb(replyForUnexpected(err));
    });
  };

  installFastDataScans(); // DATA read with memchr, not a loop per byte (src/smtp/data-scan)
  const guard = opts.guard ?? new ConnectionGuard(config.limits.connections.relay);
  let smtpGuard: SmtpGuard | undefined;
  const server = new SMTPServer({
    name: config.hostname,
    banner: 'medgate peer relay (STARTTLS + client certificate required)',
    secure: false,
    key: opts.tls.keyPem,
    cert: opts.tls.certPem,
    ca: opts.tls.caPem,
    minVersion: config.tls.minVersion,
    // The certificate is asked for, never rejected by TLS: the relay judges it and says why.
    requestCert: true,
    rejectUnauthorized: false,
    size: config.limits.maxMessageBytes,
    authOptional: true,
    disabledCommands: ['AUTH'],
    logger: false,
    onConnect(session, cb) {
      cb(smtpGuard!.onConnect(session) ?? null);
    },
    onClose(session) {
      smtpGuard!.forget(session);
    },
    onSecure(socket, session, cb) {
      smtpGuard!.secured(session, socket);
      const chain = peerChainPem(socket as TLSSocket);
      chains.set(session, chain);
      // The certificate is the peer's login: not evicted for a newcomer while it is judged.
      smtpGuard!.loggingIn(session, true);
      judgePeer(chain, trust).finally(() => smtpGuard!.loggingIn(session, false)).then((peer) => {
        peers.set(session, peer);
        // A peer gateway's valid certificate is its login: no pre-auth deadline from here on.
        if (peer.ok) smtpGuard!.authenticated(session);
        cb();
      }, (err: unknown) => {
        logger.error({ code: (err as { code?: string }).code ?? (err as Error).name }, 'relay: peer certificate check failed');
        peers.set(session, { ok: false, reason: 'refused', code: 'untrusted', detail: 'certificate check failed' });
        cb();
      });
    },
    onMailFrom(address: SMTPServerAddress, session, cb) {
      const from = address.address.toLowerCase();
      run(session, 'mail', { from }, cb, async () => {
        if (!session.secure) throw replies.relayTlsRequired();
        const first = peers.get(session);
        if (!first || (!first.ok && first.reason === 'none')) throw replies.relayNoClientCertificate();
        // Each message is judged against the revocation data of now, not of the handshake: a peer
        // revoked while its connection stays open delivers nothing more on it.
        const peer = await judgePeer(chains.get(session), trust);
        peers.set(session, peer);
        if (!peer.ok && peer.reason === 'refused' && peer.code === 'revocation-unavailable') {
          logger.warn({ from, remote: session.remoteAddress, detail: peer.detail }, 'relay: revocation data unavailable, peer told to retry');
          throw replies.relayRevocationUnavailable();
        }
        if (!peer.ok) throw replies.relayCertificateRefused(peer.reason === 'refused' ? peer.code : 'none');
        await checkSender(ctx, peer.names, from);
        logger.info({ from, peer: peer.names, remote: session.remoteAddress }, 'relay sender accepted');
      });
    },
    onRcptTo(address: SMTPServerAddress, session, cb) {
      const to = address.address.toLowerCase();
      run(session, 'rcpt', { to, from: session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : null }, cb, () => checkRecipient(ctx, to));
    },
    onData(stream: SMTPServerDataStream, session, cb) {
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address.toLowerCase() : '';
      const recipients = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
      smtpGuard!.data(session, stream);
      let spooled: string | undefined;
      let materialised: string | undefined;
      const finish = (err: Error | null, reply?: string): void => {
        if (spooled) removeSpool(spooled);
        // Moved into the store when accepted; removed here otherwise (rm of a moved file is a no-op).
        if (materialised) removeSpool(materialised);
        if (err) cb(err); else cb(null, reply);
      };
      const work = async (): Promise<string> => {
        const start = await readMessageStart(stream, HEADER_BLOCK_MAX);
        // Neither medgate/1 nor (below) encrypted S/MIME: held in memory only, never spooled in clear.
        if (!isMedgateFormat(start.head)) return notSealed(start);
        const { file, bytes, sha256, oversized } = await spoolToFile(restream(start), spoolDir, config.limits.maxMessageBytes);
        spooled = file.path;
        if (oversized || stream.sizeExceeded) throw replies.messageTooBig(config.limits.maxMessageBytes);
        // medgate/1: the checks read the clear header block only; the sealed body is never opened here.
        // It is the block read from the peer's stream and kept in memory, never bytes read back
        // from the spool: a spool read that stops at the head cannot check the AES-GCM tag, and no
        // decision, audit record or log line may come from bytes not authenticated (issue 27).
        // What is delivered is read back whole, the tag checked (materialise, readRawWhole).
        const head = start.head;
        const { messageId, denied } = await checkSealedMessage(ctx, head, from, recipients);
        if (denied) return deniedReply(messageId, denied);
        // Small messages go into the database; large ones are moved into the store as files.
        const sealed: SealedBytes = bytes <= IN_MEMORY_MAX ? await readRawWhole(file)
          : { path: (materialised = await materialise(file, file.path.replace(/\.eml$/, '-sealed.eml'))), size: bytes, sha256 };
        const res = await delivery.acceptRelayed({ sealed, messageId, envelopeFrom: from, recipients });
        logger.info({ messageId, from, recipients, placed: res.placed, duplicates: res.duplicates, bytes }, 'relay accepted');
        return `2.6.0 Delivered as ${messageId}${res.duplicates ? ' (already delivered: not placed twice)' : ''}`;
      };
      const deniedReply = async (messageId: string, denied: RelayDenial): Promise<string> => {
        await recordDenial(ctx, { messageId, recipients, denial: denied });
        logger.info({ messageId, from, recipients, role: denied.role }, 'relay: refused by the rights matrix, told by a read receipt');
        return `2.6.0 Not filed (${denied.reason.replace(/[^\x20-\x7e]/g, '?')}): a read receipt tells the sender`;
      };
      /**
       * Not medgate/1: S/MIME from a peer that does not write medgate/1 (its signatures above the
       * envelope are checked, smime-checks.ts), or plain MIME (or S/MIME signed only) from an
       * MSSanté operator, sealed here on arrival (src/smtp/mssante/intake.ts).
       */
      const notSealed = async (start: MessageStart): Promise<string> => {
        const { raw, oversized } = await readToMemory(start, config.limits.maxMessageBytes);
        if (oversized || stream.sizeExceeded) throw replies.messageTooBig(config.limits.maxMessageBytes);
        const smime = isSmimeHeader(start.head);
        const intake = await intakeDecision(ctx, from);
        // A sender with a medgate/1 key never sends plain mail through its own gateway: a plain
        // copy is a downgrade, refused with why and what to do.
        if (intake === 'downgrade' && !smime) throw replies.relayNotSealed(from);
        const endToEnd = intake === 'intake' ? await endToEndSignature(ctx, raw, smime) : undefined;
        const peer = peers.get(session);
        if (endToEnd !== undefined && peer?.ok) {
          const res = await sealIntake(ctx, { raw, from, recipients, peer, peerDomain: from.slice(from.lastIndexOf('@') + 1) }, endToEnd);
          if (res.denied) return deniedReply(res.messageId, res.denied);
          const delivered = await delivery.acceptRelayed({
            sealed: res.sealed, messageId: res.messageId, envelopeFrom: from, recipients, idempotenceKey: res.idempotenceKey,
            auditDetails: { transport: 'mssante-intake', peerFingerprint: peer.fingerprint256, endToEnd: res.endToEnd.split(';')[0] },
          });
          logger.info({ messageId: res.messageId, from, recipients, placed: delivered.placed, duplicates: delivered.duplicates, bytes: raw.length }, 'relay: MSSante message sealed on arrival and accepted');
          return `2.6.0 Sealed on arrival and delivered as ${res.messageId}${delivered.duplicates ? ' (already delivered: not placed twice)' : ''}`;
        }
        if (!smime) throw replies.relayNotSealed();
        const { messageId } = await checkSmimeMessage(ctx, raw, from, recipients);
        // Encrypted S/MIME: large ones are stored as files, as medgate/1 is (the spool holds ciphertext only).
        let sealed: SealedBytes = raw;
        if (raw.length > IN_MEMORY_MAX) {
          const f = await spoolToFile(Readable.from([raw]), spoolDir, config.limits.maxMessageBytes);
          spooled = f.file.path;
          sealed = { path: (materialised = await materialise(f.file, f.file.path.replace(/\.eml$/, '-sealed.eml'))), size: f.bytes, sha256: f.sha256 };
        }
        const res = await delivery.acceptRelayed({ sealed, messageId, envelopeFrom: from, recipients });
        logger.info({ messageId, from, recipients, placed: res.placed, duplicates: res.duplicates, bytes: raw.length }, 'relay accepted');
        return `2.6.0 Delivered as ${messageId}${res.duplicates ? ' (already delivered: not placed twice)' : ''}`;
      };
      work().then((reply) => finish(null, reply), async (err: unknown) => {
        if (isSmtpReply(err)) { finish(await refuse(session, err, { from, recipients }, 'data')); return; }
        logger.error({ stage: 'data', code: isMedgateError(err) ? err.code : (err as { code?: string }).code ?? (err as Error).name }, 'relay internal error');
        finish(replyForUnexpected(err));
      });
    },
  });

  smtpGuard = guardSmtpServer(server, guard);
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? config.listen.smtpRelay, opts.host ?? config.listen.host, () => {
      server.off('error', reject);
      resolve((server.server.address() as { port: number }).port);
    });
  });
  server.on('error', (err: Error) => logger.warn({ code: (err as { code?: string }).code ?? err.name }, 'relay connection error'));
  return {
    port,
    close: () => {
      guard.stop();
      // A peer's idle pooled connection is told 421 and closed, not waited for (30 s).
      return closeSmtpServer(server);
    },
  };
}
