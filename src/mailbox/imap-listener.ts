import type { GatewayContext } from '../context.js';
import { createImapServer } from '../imap/index.js';
import type { GatewayTls } from '../pki/index.js';
import { ConnectionGuard } from '../net/connection-guard.js';
import { StoreBackend } from './store-backend.js';

/** Starts the IMAP listeners (STARTTLS and implicit TLS) over the encrypted store. */
export async function startImap(ctx: GatewayContext, opts: { tls: GatewayTls; guard?: ConnectionGuard }): Promise<{ ports: { imap: number; imapTls: number }; close(): Promise<void> }> {
  const log = ctx.logger.child({ component: 'imap' });
  const limits = ctx.config.limits.connections.imap;
  const server = createImapServer({
    guard: opts.guard ?? new ConnectionGuard(limits),
    limits: { maxConnections: limits.maxConnections, maxConnectionsPerAddress: limits.maxPerAddress, authFailureDelayMs: ctx.config.security.imapFailedLoginDelayMs },
    backend: new StoreBackend(ctx),
    tls: { key: opts.tls.keyPem, cert: opts.tls.certPem },
    starttlsPort: ctx.config.listen.imap,
    tlsPort: ctx.config.listen.imapTls,
    host: ctx.config.listen.host,
    serverName: `medgate IMAP ${ctx.config.hostname}`,
    loginFailures: ctx.store.loginFailures,
    logger: {
      debug: (o, m) => log.debug(o, m),
      info: (o, m) => log.info(o, m),
      warn: (o, m) => log.warn(o, m),
      error: (o, m) => log.error(o, m),
    },
    onAuthEvent: (e) => {
      // Successful and failed LOGINs are audited by the account service; throttled ones only here.
      if (e.type === 'throttled' || e.type === 'refused') {
        void ctx.audit.refused({ actor: e.user.toLowerCase().slice(0, 254), action: 'imap.auth', outcome: 'refused', details: { outcome: e.type, reason: e.reason, remote: e.remoteAddress }, source: e.remoteAddress, reason: e.reason ?? e.type })
          .catch((err: unknown) => log.error({ code: (err as { code?: string }).code ?? (err as Error).name }, 'audit record failed'));
      }
    },
  });
  const ports = await server.listen();
  return {
    ports: { imap: ports.starttlsPort ?? 0, imapTls: ports.tlsPort ?? 0 },
    close: () => server.close(),
  };
}
