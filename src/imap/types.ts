/** Types shared by the server, the session and the command handlers. */
import type { SecureContext } from 'node:tls';
import type { ImapBackend } from './backend.js';
import type { AuthLimiter } from './auth-limiter.js';

export type SessionState = 'not-authenticated' | 'authenticated' | 'selected' | 'logout';

/** pino-compatible subset. */
export interface ImapLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ImapLimits {
  /** Longest command line without literals (bytes). */
  maxLineLength: number;
  /** Largest literal outside APPEND (bytes). */
  maxLiteralSize: number;
  /** Largest whole command outside APPEND (bytes). */
  maxCommandSize: number;
  /** Largest message accepted by APPEND, advertised as APPENDLIMIT (bytes). */
  appendLimit: number;
  /** Deepest parenthesis nesting accepted in a command. */
  maxNestingDepth: number;
  /** Simultaneous connections of one user. */
  maxConnectionsPerUser: number;
  /** Simultaneous connections in total. */
  maxConnections: number;
  /** Simultaneous connections from one remote address (logged in or not). */
  maxConnectionsPerAddress: number;
  /** Inactivity before logout once authenticated (RFC 3501 asks for at least 30 minutes). */
  idleTimeoutMs: number;
  /** Inactivity before closing a connection that has not logged in. */
  preAuthTimeoutMs: number;
  /** Failed logins per user+IP within `authFailureWindowMs` before further attempts are refused. */
  maxAuthFailures: number;
  authFailureWindowMs: number;
  /** Pause before answering a failed login (slows down guessing). */
  authFailureDelayMs: number;
  /** Consecutive BAD commands before the connection is closed. */
  maxBadCommands: number;
  /** Commands read ahead of processing before the socket is paused. */
  maxPipelinedCommands: number;
}

export const DEFAULT_LIMITS: ImapLimits = {
  maxLineLength: 64 * 1024,
  maxLiteralSize: 64 * 1024,
  maxCommandSize: 1024 * 1024,
  appendLimit: 50 * 1024 * 1024,
  maxNestingDepth: 16,
  maxConnectionsPerUser: 20,
  maxConnections: 2000,
  maxConnectionsPerAddress: 100,
  idleTimeoutMs: 30 * 60 * 1000,
  preAuthTimeoutMs: 60 * 1000,
  maxAuthFailures: 5,
  authFailureWindowMs: 15 * 60 * 1000,
  authFailureDelayMs: 1000,
  maxBadCommands: 20,
  maxPipelinedCommands: 64,
};

export interface AuthEvent {
  type: 'success' | 'failure' | 'throttled' | 'refused';
  /** User name as given by the client (never the password). */
  user: string;
  remoteAddress: string;
  mechanism: 'LOGIN' | 'PLAIN';
  /** For `refused`: why (e.g. too many connections). */
  reason?: string;
}

/** What every session of one server shares. */
export interface ServerContext {
  backend: ImapBackend;
  limits: ImapLimits;
  logger: ImapLogger;
  secureContext: SecureContext;
  authLimiter: AuthLimiter;
  onAuthEvent: (event: AuthEvent) => void;
  /** Live connection count per user, for maxConnectionsPerUser. */
  userConnections: Map<string, number>;
  serverName: string;
}
