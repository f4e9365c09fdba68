import { MedgateError } from '../../errors.js';

/** Where a postgres:// URL points, for messages (never the password). */
export interface PgTarget {
  url: string;
  host: string;
  port: number;
  database: string;
  user: string;
}

export function parsePgUrl(raw: string): PgTarget {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new MedgateError('STORE_TARGET_URL_INVALID', 'the target is not a valid URL: give postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new MedgateError('STORE_TARGET_URL_INVALID', `the target URL must start with postgres:// (got ${u.protocol}//): give postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  }
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!u.hostname || !database) {
    throw new MedgateError('STORE_TARGET_URL_INVALID', 'the target URL needs a host and a database name: postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  return { url: raw, host: u.hostname, port: Number(u.port || 5432), database, user: decodeURIComponent(u.username || process.env.USER || 'postgres') };
}

/** One clear line for what connecting to the target can go wrong with. */
export function explainConnectError(err: unknown, t: PgTarget): MedgateError {
  const code = (err as { code?: string }).code ?? '';
  const cause = (err as { cause?: { code?: string } }).cause?.code ?? '';
  const at = `${t.host}:${t.port}`;
  if (code === '28P01' || code === '28000') {
    return new MedgateError('STORE_TARGET_AUTH_FAILED', `PostgreSQL at ${at} refused the password for user "${t.user}": check the user and password in the URL`);
  }
  if (code === '3D000') {
    return new MedgateError('STORE_TARGET_NO_DATABASE', `database "${t.database}" does not exist on ${at}: create it first (createdb ${t.database})`);
  }
  const net = [code, cause].find((c) => ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ECONNRESET'].includes(c));
  if (net || code === 'STORE_UNAVAILABLE' || /timeout|terminated/i.test((err as Error).message ?? '')) {
    const why = net === 'ECONNREFUSED' ? 'connection refused' : net === 'ENOTFOUND' || net === 'EAI_AGAIN' ? 'unknown host' : 'no answer';
    return new MedgateError('STORE_TARGET_UNREACHABLE', `cannot reach PostgreSQL at ${at} (${why}): check the host and port, and that the server is running`);
  }
  return new MedgateError('STORE_TARGET_FAILED', `PostgreSQL at ${at} refused the connection (${code || 'unknown reason'})`);
}
