import net from 'node:net';
import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
/** A DNS server as Node's Resolver#setServers takes it: `192.0.2.53`, `127.0.0.1:5353`, `2001:db8::53`, `[2001:db8::53]:5353`. */
const dnsServer = z.string().refine((v) => {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(v) ?? /^([^:]+):(\d{1,5})$/.exec(v);
  if (!m) return net.isIP(v) !== 0;
  return net.isIP(m[1]!) !== 0 && Number(m[2]) >= 1 && Number(m[2]) <= 65535;
}, 'an IP address with an optional port, e.g. 127.0.0.1:5353 or [2001:db8::53]:53');
const domain = z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i, 'a domain name such as cabinet.example.fr');

/** src/imap/types.ts DEFAULT_LIMITS.authFailureDelayMs: the IMAP server's own default. */
const IMAP_FAILED_LOGIN_DELAY_DEFAULT = 1000;
const LOGIN_LIMITS_DEFAULT = { maxFailuresPerAddress: 10, windowSeconds: 900, slowAfterFailures: 3, delayMs: 250, maxDelayMs: 4000 };

const SUBMISSION_CONNECTIONS = { maxConnections: 1000, maxPerAddress: 50, maxUnauthenticated: 300, preAuthSeconds: 30, minBytesPerSecond: 20, rateGraceSeconds: 10 };
const RELAY_CONNECTIONS = { maxConnections: 300, maxPerAddress: 30, maxUnauthenticated: 100, preAuthSeconds: 30, minBytesPerSecond: 20, rateGraceSeconds: 10 };
const IMAP_CONNECTIONS = { maxConnections: 2000, maxPerAddress: 100, maxUnauthenticated: 300, preAuthSeconds: 30, minBytesPerSecond: 20, rateGraceSeconds: 10 };
/**
 * HTTP listeners (src/net/http-guard.ts): "not logged in" = waiting for a request head, so
 * the deadline is the time to a complete request head; the share of idle ones is most of the total.
 */
const HTTP_CONNECTIONS = { maxConnections: 500, maxPerAddress: 50, maxUnauthenticated: 400, preAuthSeconds: 10, minBytesPerSecond: 20, rateGraceSeconds: 5 };
const API_CONNECTIONS = { maxConnections: 200, maxPerAddress: 20, maxUnauthenticated: 150, preAuthSeconds: 10, minBytesPerSecond: 20, rateGraceSeconds: 5 };
const CONSOLE_CONNECTIONS = { maxConnections: 500, maxPerAddress: 50, maxUnauthenticated: 400, preAuthSeconds: 10, minBytesPerSecond: 20, rateGraceSeconds: 5 };
const CONNECTIONS_DEFAULT = { submission: SUBMISSION_CONNECTIONS, relay: RELAY_CONNECTIONS, imap: IMAP_CONNECTIONS, http: HTTP_CONNECTIONS, api: API_CONNECTIONS, console: CONSOLE_CONNECTIONS };

/**
 * One listener family's connection limits. `maxUnauthenticated` below `maxConnections` keeps the
 * rest for logged-in sessions: strangers never fill the door.
 */
function connectionLimits(defaults: typeof SUBMISSION_CONNECTIONS) {
  return z.strictObject({
    maxConnections: z.number().int().min(1).max(1_000_000).default(defaults.maxConnections),
    maxPerAddress: z.number().int().min(1).max(1_000_000).default(defaults.maxPerAddress),
    maxUnauthenticated: z.number().int().min(1).max(1_000_000).default(defaults.maxUnauthenticated),
    preAuthSeconds: z.number().min(0.1).max(3600).default(defaults.preAuthSeconds),
    minBytesPerSecond: z.number().min(0).max(1_000_000_000).default(defaults.minBytesPerSecond),
    rateGraceSeconds: z.number().min(0.1).max(3600).default(defaults.rateGraceSeconds),
  }).refine((l) => l.maxUnauthenticated < l.maxConnections, {
    message: 'maxUnauthenticated must be below maxConnections (the rest is kept for logged-in sessions)',
  }).default(defaults);
}

export const configSchema = z.strictObject({
  /** The gateway's own mail domain: local mailboxes live under it. */
  domain,
  /** Host name the gateway announces (SMTP banner, TLS certificate, autoconfig). */
  hostname: z.string().min(1).default('localhost'),
  /** Where the database, spool, gateway keys and TLS material live. Relative to the config file. */
  dataDir: z.string().min(1),
  /**
   * Where the gateway's own keys (keys/: filing, custody, postmaster) and TLS identity (tls/) live;
   * default: dataDir. The nodes of a cluster share this folder (made once by `medgate init`) and
   * keep their own dataDir (spool). Relative to the config file.
   */
  keysDir: z.string().min(1).optional(),
  store: z.strictObject({
    driver: z.enum(['sqlite', 'postgres']).default('sqlite'),
    sqlite: z.strictObject({ file: z.string().min(1).default('medgate.db') }).default({ file: 'medgate.db' }),
    /** Several nodes over one database. `MEDGATE_DATABASE_URL` (containers) overrides `url` and selects this store. */
    postgres: z.strictObject({
      url: z.string().min(1).optional(),
      /** Connections this node keeps open at most. */
      poolSize: z.number().int().min(1).max(1000).default(10),
      /** How long a connection attempt may wait for the server's answer before it counts as failed. */
      connectTimeoutSeconds: z.number().min(0.1).max(600).default(5),
    }).optional(),
  }),
  pki: z.strictObject({
    /** Folder of the local test CA (`medgate pki init`). Relative to the config file. */
    caDir: z.string().min(1),
    /** Trust anchors (PEM files) for peer gateways and certificates in the directory. */
    trustAnchors: z.array(z.string().min(1)).default([]),
    /** CRL files (PEM) checked on every certificate validation. */
    crls: z.array(z.string().min(1)).default([]),
  }),
  listen: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    smtpSubmission: port,
    smtpSubmissionTls: port,
    smtpRelay: port,
    imap: port,
    imapTls: port,
    http: port,
    /** HTTPS JSON API for record servers (client certificates); off when absent. */
    api: port.optional(),
    /** HTTPS record console for doctors (src/console, docs/record-console.md); off when absent. */
    console: port.optional(),
  }),
  tls: z.strictObject({
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /** Certificate and key files; when absent the gateway issues its own from the test CA. */
    certFile: z.string().optional(),
    keyFile: z.string().optional(),
  }).default({ minVersion: 'TLSv1.2' }),
  security: z.strictObject({
    /** Argon2 memory exponent for wrapping private keys (2^n KiB). 16 = 64 MiB; lower only for tests. */
    kdfMemoryExponent: z.number().int().min(10).max(22).default(16),
    /** Minimum password length for accounts. */
    minPasswordLength: z.number().int().min(8).max(256).default(12),
    /**
     * Login cache: a key a password unlocked stays in memory while an IMAP session of the account is
     * open, and `ttlSeconds` after the unlock or after that last session ended, so the next login
     * with the same password skips scrypt + Argon2 (docs/operations.md: the trade-off).
     * `maxEntries: 0` turns it off entirely.
     */
    loginCache: z.strictObject({
      // Short by default: a client reconnecting (imaptest, Outlook's SMTP per message) logs in in milliseconds.
      ttlSeconds: z.number().int().min(0).max(86_400).default(60),
      maxEntries: z.number().int().min(0).max(1_000_000).default(1000),
    }).default({ ttlSeconds: 60, maxEntries: 1000 }),
    /**
     * Failed password logins per source address, counted across all accounts and protocols (SMTP
     * AUTH, IMAP): from `slowAfterFailures` on each failure answers `delayMs` later (doubling, up to
     * `maxDelayMs`); at `maxFailuresPerAddress` within `windowSeconds` the address is refused with the
     * protocol's temporary code. The per-(account, address) limits of each protocol stay in force.
     */
    loginLimits: z.strictObject({
      maxFailuresPerAddress: z.number().int().min(1).max(100_000).default(10),
      windowSeconds: z.number().int().min(1).max(86_400).default(900),
      slowAfterFailures: z.number().int().min(0).max(100_000).default(3),
      delayMs: z.number().int().min(0).max(60_000).default(250),
      maxDelayMs: z.number().int().min(0).max(60_000).default(4000),
    }).default(LOGIN_LIMITS_DEFAULT),
    /**
     * Pause before an IMAP server answers a failed LOGIN / AUTHENTICATE (slows guessing on one
     * connection). Configurable so tests that fail logins on purpose need not wait a second each.
     */
    imapFailedLoginDelayMs: z.number().int().min(0).max(60_000).default(IMAP_FAILED_LOGIN_DELAY_DEFAULT),
    /**
     * An account key stored before account keys were signed by their owner (docs/secure-message-format.md
     * §5.3): `sign` signs it at the account's next login, `refuse` refuses that login. Someone who can
     * write the store can also put an unsigned key of his own there, which `sign` would sign: set
     * `refuse` once `medgate user list` shows no `key:unsigned` (docs/operations.md).
     */
    unsignedAccountKeys: z.enum(['sign', 'refuse']).default('sign'),
  }).default({
    kdfMemoryExponent: 16, minPasswordLength: 12, loginCache: { ttlSeconds: 60, maxEntries: 1000 }, loginLimits: LOGIN_LIMITS_DEFAULT,
    imapFailedLoginDelayMs: IMAP_FAILED_LOGIN_DELAY_DEFAULT, unsignedAccountKeys: 'sign',
  }),
  limits: z.strictObject({
    /** Largest message accepted, in bytes (advertised as SMTP SIZE). */
    maxMessageBytes: z.number().int().min(1024).default(50 * 1024 * 1024),
    /** Connection limits per listener family (src/net/connection-guard.ts, docs/operations.md "Connection limits"). */
    connections: z.strictObject({
      submission: connectionLimits(SUBMISSION_CONNECTIONS),
      relay: connectionLimits(RELAY_CONNECTIONS),
      imap: connectionLimits(IMAP_CONNECTIONS),
      http: connectionLimits(HTTP_CONNECTIONS),
      api: connectionLimits(API_CONNECTIONS),
      console: connectionLimits(CONSOLE_CONNECTIONS),
    }).default(CONNECTIONS_DEFAULT),
  }).default({ maxMessageBytes: 50 * 1024 * 1024, connections: CONNECTIONS_DEFAULT }),
  /** The audit trail (docs/operations.md "Audit trail"). */
  audit: z.strictObject({
    /**
     * Refusals of one kind (action and reason) from one client address: the first
     * `individualPerWindow` in a window of `windowSeconds` are recorded one by one, the rest counted
     * into one aggregate record when the window closes.
     */
    refusals: z.strictObject({
      individualPerWindow: z.number().int().min(0).max(100_000).default(10),
      windowSeconds: z.number().min(0.1).max(86_400).default(60),
      /** Windows (kind, source) open at once; refusals from further sources share one per kind. */
      maxOpenWindows: z.number().int().min(1).max(1_000_000).default(20),
    }).default({ individualPerWindow: 10, windowSeconds: 60, maxOpenWindows: 20 }),
  }).default({ refusals: { individualPerWindow: 10, windowSeconds: 60, maxOpenWindows: 20 } }),
  /** SMTP submission (docs/smtp.md "From rules"). */
  submission: z.strictObject({
    /**
     * Application accounts (practice software) and the doctors each may sign for: the From of a
     * message it submits may name one of them (the gateway adds `Sender: <application>`); any
     * other account's From must be its own address.
     */
    signFor: z.record(
      z.string().min(3).max(320).transform((v) => v.trim().toLowerCase()),
      z.array(z.string().min(3).max(320).transform((v) => v.trim().toLowerCase())),
    ).default({}),
  }).default({ signFor: {} }),
  /** The record-server HTTPS API (`listen.api`). */
  api: z.strictObject({
    /** Per client certificate: `burst` requests at once, then `requestsPerMinute` (0 = no limit); beyond, 429 + Retry-After. */
    rateLimit: z.strictObject({
      requestsPerMinute: z.number().int().min(0).max(1_000_000).default(120),
      burst: z.number().int().min(1).max(1_000_000).default(30),
    }).default({ requestsPerMinute: 120, burst: 30 }),
    /**
     * Per client address, before authentication (a caller without a certificate costs a TLS
     * handshake and an audit count, not a database round trip per request); beyond, 429 + Retry-After.
     */
    addressRateLimit: z.strictObject({
      requestsPerMinute: z.number().int().min(0).max(1_000_000).default(600),
      burst: z.number().int().min(1).max(1_000_000).default(100),
    }).default({ requestsPerMinute: 600, burst: 100 }),
    /** Letters a patient search needs at least (a one-letter prefix names too many patients). */
    minSearchLetters: z.number().int().min(1).max(64).default(2),
  }).default({ rateLimit: { requestsPerMinute: 120, burst: 30 }, addressRateLimit: { requestsPerMinute: 600, burst: 100 }, minSearchLetters: 2 }),
  /** The record console (`listen.console`): doctors consult the filing store in a browser. */
  console: z.strictObject({
    /** The record-server account whose key opens filed documents (default: the only local `rmp` account). */
    recordServer: z.string().min(3).optional(),
    /** File holding that account's password (mode 0600); without it documents cannot be read online or sent. */
    recordServerPasswordFile: z.string().min(1).optional(),
    /** A session ends after this many minutes without a request. */
    idleMinutes: z.number().int().min(1).max(720).default(15),
    /** And at the latest this many hours after login. */
    maxSessionHours: z.number().int().min(1).max(48).default(12),
    /** Letters a patient search needs at least. */
    minSearchLetters: z.number().int().min(1).max(24).default(2),
    /** Accounts that see every emergency access (the operator's), besides each patient's treating doctor. */
    operators: z.array(z.string().min(3)).default([]),
    /** Largest form body accepted, in bytes (beyond: 413). */
    maxBodyBytes: z.number().int().min(1024).max(1_048_576).default(16_384),
    /** Requests per source address and minute (beyond: 429); login attempts have their own, lower limit. */
    requestsPerMinute: z.number().int().min(10).max(1_000_000).default(600),
    loginAttemptsPerMinute: z.number().int().min(1).max(10_000).default(20),
    /** Wrong access codes per doctor within `windowSeconds` of security.loginLimits before further codes are refused unseen. */
    maxAccessCodeFailures: z.number().int().min(1).max(1000).default(5),
  }).default({ idleMinutes: 15, maxSessionHours: 12, minSearchLetters: 2, operators: [], maxBodyBytes: 16_384, requestsPerMinute: 600, loginAttemptsPerMinute: 20, maxAccessCodeFailures: 5 }),
  /**
   * The DNS servers outbound routing asks (MX records, then the MX hosts' A/AAAA records:
   * src/smtp/outbound/peer-route.ts). Empty (the default): the system's resolvers (/etc/resolv.conf).
   * Only route lookups use them: nothing else in the process changes resolver.
   */
  dns: z.strictObject({
    servers: z.array(dnsServer).max(8).default([]),
  }).default({ servers: [] }),
  /** Peer gateways: where to deliver each remote domain (MX lookup is the fallback). */
  peers: z.array(z.strictObject({
    domain,
    host: z.string().min(1),
    port: port.default(25),
  })).default([]),
  queue: z.strictObject({
    /** How often the outbound queue looks for due deliveries. */
    pollMs: z.number().int().min(10).max(60_000).default(2000),
    /** First retry delay; doubles at each attempt up to retryMaxSeconds. */
    retryBaseSeconds: z.number().min(0.1).default(60),
    retryMaxSeconds: z.number().min(1).default(3600),
    /** Send a delayed-delivery notice (when NOTIFY allows) after this long undelivered. */
    delayNoticeAfterMinutes: z.number().min(0.01).default(240),
    /** Give up and send a non-delivery report after this long. */
    maxLifetimeHours: z.number().min(0.0001).default(120),
    /**
     * How long a node holds the items it is delivering (renewed while it works). Another node takes
     * over a dead node's items once this has run out.
     */
    leaseSeconds: z.number().min(1).max(3600).default(60),
  }).default({ pollMs: 2000, retryBaseSeconds: 60, retryMaxSeconds: 3600, delayNoticeAfterMinutes: 240, maxLifetimeHours: 120, leaseSeconds: 60 }),
  /**
   * Worker threads (issue 31: sized to the machine and the load, not fixed). The sealing threads
   * (seal, open, APPEND, Argon2 at LOGIN) start with the work, up to `maxThreads` (default: the
   * machine's available parallelism), and end after `idleSeconds` without work, down to
   * `minThreads`. `minThreads` = `maxThreads` keeps a warm, fixed pool (no thread start on the first
   * message after a quiet spell, ~25 MB more per thread at rest).
   */
  workers: z.strictObject({
    sealing: z.strictObject({
      minThreads: z.number().int().min(0).max(256).default(0),
      maxThreads: z.number().int().min(1).max(256).optional(),
      idleSeconds: z.number().min(0.1).max(86_400).default(30),
    }).default({ minThreads: 0, idleSeconds: 30 }),
  }).default({ sealing: { minThreads: 0, idleSeconds: 30 } }),
  demo: z.strictObject({
    /** On an empty store, create the demo practice described in `file`. Off in production. */
    enabled: z.boolean().default(false),
    file: z.string().optional(),
  }).default({ enabled: false }),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** `auto`: readable lines on a terminal, JSON lines to a file or a pipe (src/log.ts). */
    format: z.enum(['auto', 'json', 'pretty']).default('auto'),
  }).default({ level: 'info', format: 'auto' }),
  /**
   * S/MIME beside medgate/1 (docs/secure-message-format.md §12). A recipient is sealed as S/MIME
   * when its directory entry has an X.509 encryption certificate and no OpenPGP key, or when its
   * address or domain is listed in `prefer` (and its entry has such a certificate). Record servers
   * always get medgate/1 OpenPGP (their filing reads the routing header).
   */
  smime: z.strictObject({
    /** Addresses (`claire@chu.example.fr`) or domains (`chu.example.fr`) that ask for S/MIME. */
    prefer: z.array(z.string().min(3).max(320).transform((v) => v.trim().toLowerCase())).default([]),
  }).default({ prefer: [] }),
  /**
   * MSSanté (docs/smtp.md, "MSSanté"): recipients with a directory entry on a whitelisted domain but
   * no medgate/1 key and no S/MIME certificate. `outbound: allow` sends them the message as plain
   * MIME (with IHE XDM) over mutual TLS with health-PKI certificates: protection by the transport and
   * the trust space, not end to end. `deny` (the default) refuses them at RCPT TO, as before: the
   * operator decides, knowingly, that the practice's mail may be readable at another operator.
   */
  mssante: z.strictObject({
    outbound: z.enum(['allow', 'deny']).default('deny'),
    /** Domain → `host:port` of its MSSanté operator (tests, private routes); otherwise peers, then MX. */
    routes: z.record(domain, z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port, e.g. mx.chu.example.fr:25')).default({}),
    /**
     * The SMTP port of the hosts an MSSanté domain's MX records name: 25 between operators; another
     * port only for tests and private networks (an operator's MX listening elsewhere).
     */
    mxPort: port.min(1).default(25),
    /**
     * The "référence produit" the ANS issued for this software when it was declared on
     * convergence.esante.gouv.fr: written as `X-MSS-NIL` on every message to an MSSanté mailbox
     * (Référentiel socle MSSanté #2, ECO.2.4.3). Unset: no X-MSS-NIL.
     */
    productReference: z.string().regex(/^[\x21-\x7e]{1,64}$/, 'the reference as issued, printable ASCII without spaces, e.g. DEV935997').optional(),
  }).default({ outbound: 'deny', routes: {}, mxPort: 25 }),
  /** Patient filing for record servers (docs/record-server.md). */
  filing: z.strictObject({
    /** Rights matrix: per sender role, the document types it may send into a shared record (replaces that role's default row). */
    rights: z.record(z.string(), z.array(z.string())).default({}),
    /** Role per sender address (application accounts, or a correction of the directory). */
    senders: z.record(z.string(), z.string()).default({}),
    /**
     * HPRIM lab code (line 11's first word) → the directory address of that lab: an HPRIM result
     * whose header names a mapped code has that lab as its verified author (docs/record-server.md).
     */
    hprimLabs: z.record(z.string().min(1).max(20), z.string().min(3).max(320)).default({}),
  }).default({ rights: {}, senders: {}, hprimLabs: {} }),
});

export type MedgateConfigInput = z.input<typeof configSchema>;
/** A validated configuration with every path made absolute. */
export type MedgateConfig = z.output<typeof configSchema> & { configFile: string };
