/**
 * The contract between the session and the one-file-per-command handlers. Handlers see the
 * connection only through `CommandSession`, so they do not depend on the session class (which
 * depends on them to dispatch): protocol state on one side, command logic on the other, as in Gluon.
 */
import type { ImapUserSession } from '../backend.js';
import type { MailboxView } from '../mailbox-view.js';
import type { MessageLoader } from '../message-loader.js';
import type { Frame } from '../parser/command-reader.js';
import type { Token } from '../parser/tokenizer.js';
import type { ImapValue } from '../response.js';
import type { ServerContext, SessionState } from '../types.js';

/** A SELECT/EXAMINE in progress: changes are watched before the snapshot is read. */
export interface PendingSelection {
  /** The snapshot is loaded: make the view the selected mailbox. */
  complete(view: MailboxView): void;
  /** Opening failed: stop watching. */
  cancel(): void;
}

/** What a command handler may see and do of its connection. */
export interface CommandSession {
  readonly id: string;
  readonly remoteAddress: string;
  readonly ctx: ServerContext;
  readonly limits: ServerContext['limits'];
  readonly secure: boolean;
  readonly state: SessionState;
  readonly user: ImapUserSession | null;
  readonly selected: MailboxView | null;
  readonly condstore: boolean;
  idling: boolean;
  capabilities(): string[];
  write(data: Buffer): Promise<void>;
  untagged(...values: ImapValue[]): Promise<void>;
  nextFrame(): Promise<Frame | null>;
  flushUpdates(allowExpunge: boolean, settle?: boolean): Promise<void>;
  beginSelect(name: string, claimRecent: boolean): PendingSelection;
  deselect(): void;
  enableCondstore(): boolean;
  requireUser(): ImapUserSession;
  requireLoader(): MessageLoader;
  requireSelected(): MailboxView;
  authenticated(user: ImapUserSession): Promise<boolean>;
  /** Credentials are being checked: the connection limits must not close it to make room meanwhile. */
  loggingIn(on: boolean): void;
  prepareStartTls(): void;
  upgradeToTls(): Promise<void>;
  close(): void;
}

export interface CommandContext {
  session: CommandSession;
  tag: string;
  args: Token[];
  /** True when invoked as `UID <command>`: numbers are UIDs and responses carry UID. */
  uid: boolean;
}

export interface CommandResult {
  status: 'OK' | 'NO' | 'BAD';
  code?: string;
  text: string;
  /** Whether pending EXPUNGE responses may be sent before the tagged reply (default true). */
  allowExpunge?: boolean;
  /** False when no mailbox update may precede the tagged reply at all (LOGOUT: after its BYE). */
  allowUpdates?: boolean;
  /** Runs after the tagged reply was written (STARTTLS upgrade, LOGOUT close). */
  after?: () => Promise<void>;
}

export interface CommandHandler {
  states: SessionState[];
  handle(ctx: CommandContext): Promise<CommandResult>;
}

export const ANY_STATE: SessionState[] = ['not-authenticated', 'authenticated', 'selected'];
export const NOT_AUTHENTICATED: SessionState[] = ['not-authenticated'];
export const AUTHENTICATED: SessionState[] = ['authenticated', 'selected'];
export const SELECTED: SessionState[] = ['selected'];

export function ok(text: string, code?: string): CommandResult {
  return code ? { status: 'OK', code, text } : { status: 'OK', text };
}

export function no(text: string, code?: string): CommandResult {
  return code ? { status: 'NO', code, text } : { status: 'NO', text };
}
