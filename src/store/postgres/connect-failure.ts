import { StoreConnectError } from '../../errors.js';

/** Where the store's URL points, for messages: never the password. */
export interface PgEndpoint {
  host: string;
  port: number;
  database: string;
  user: string;
}

export function endpointOf(url: string): PgEndpoint {
  try {
    const u = new URL(url);
    return {
      host: u.hostname || 'localhost',
      port: Number(u.port || 5432),
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres',
      user: decodeURIComponent(u.username || process.env.USER || 'postgres'),
    };
  } catch {
    return { host: '?', port: 5432, database: '?', user: '?' };
  }
}

/** Codes and messages of an error and its causes (pg wraps some; medgate wraps as STORE_UNAVAILABLE). */
function chain(err: unknown): Array<{ code: string; message: string }> {
  const out: Array<{ code: string; message: string }> = [];
  for (let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    out.push({ code: typeof e.code === 'string' ? e.code : '', message: typeof e.message === 'string' ? e.message : '' });
  }
  return out;
}

const TIMEOUT = /timeout expired|timeout exceeded when trying to connect|connection timeout/i;

/**
 * The connection failure `err` is, as one line naming the server and the database and saying what
 * to do, or undefined when it is something else (a bug, a failed migration: not ours to reword).
 * `source` says where the URL came from, so the operator knows what to edit.
 */
export function classifyConnectFailure(err: unknown, at: PgEndpoint, opts: { timeoutSeconds: number; source: string }): StoreConnectError | undefined {
  const links = chain(err);
  const has = (...codes: string[]): boolean => links.some((l) => codes.includes(l.code));
  const where = `${at.host}:${at.port}`;
  const details = { host: at.host, port: at.port, database: at.database };
  const options = { cause: err };
  if (has('28P01', '28000')) {
    return new StoreConnectError('auth', `PostgreSQL at ${where} refused user "${at.user}" for database "${at.database}" (wrong password, or no such user): fix the user and password in ${opts.source}`, details, options);
  }
  if (has('3D000')) {
    return new StoreConnectError('no-database', `database "${at.database}" does not exist on PostgreSQL at ${where}: create it (createdb -h ${at.host} -p ${at.port} -U ${at.user} ${at.database}) or fix the name in ${opts.source}`, details, options);
  }
  if (has('ECONNREFUSED')) {
    return new StoreConnectError('refused', `PostgreSQL at ${where} refused the connection (nothing listens there) for database "${at.database}": start the server, or fix the host and port in ${opts.source}`, details, options);
  }
  if (has('ENOTFOUND', 'EAI_AGAIN')) {
    return new StoreConnectError('unknown-host', `the PostgreSQL host "${at.host}" (database "${at.database}") is not known to DNS: fix the host in ${opts.source}`, details, options);
  }
  if (has('ETIMEDOUT', 'EHOSTUNREACH') || links.some((l) => TIMEOUT.test(l.message))) {
    return new StoreConnectError('timeout', `PostgreSQL at ${where} did not answer within ${opts.timeoutSeconds} s (database "${at.database}"): check that the server is up and that no firewall drops the port; store.postgres.connectTimeoutSeconds sets the wait`, details, options);
  }
  return undefined;
}
