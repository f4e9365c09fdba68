import { MedgateError } from './errors.js';

/** Why a socket could not be opened, in the operator's words. */
const REASONS: Record<string, string> = {
  EADDRINUSE: 'the address is already in use (another medgate, or another program, listens there)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address',
};

/**
 * A listener that cannot open its port is the operator's to fix, not an internal error: one line
 * naming the address, the setting and what to do (`LISTEN_FAILED`, exit code 1). Anything else
 * is returned as it was.
 */
export function listenFailure(err: unknown, listen: Record<string, unknown>): unknown {
  // A listener may have wrapped the socket's error (the IMAP server's IMAP_LISTEN_FAILED): its cause says why.
  const socketError = err instanceof Error && err.cause ? err.cause : err;
  const e = socketError as { code?: unknown; address?: unknown; port?: unknown } | null;
  const reason = typeof e?.code === 'string' ? REASONS[e.code] : undefined;
  if (!reason || typeof e?.port !== 'number') return err;
  const setting = Object.entries(listen).find(([key, value]) => key !== 'host' && value === e.port)?.[0];
  const where = `${typeof e.address === 'string' ? e.address : '?'}:${e.port}`;
  return new MedgateError('LISTEN_FAILED',
    `cannot listen on ${where}${setting ? ` (listen.${setting})` : ''}: ${reason}; stop what uses it or choose another port in the config`,
    { address: where, ...(setting ? { setting: `listen.${setting}` } : {}) }, { cause: err });
}
