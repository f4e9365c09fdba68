/** The contract between the session and the one-file-per-command handlers. */
import type { Token } from '../parser/tokenizer.js';
import type { ImapSession } from '../session.js';
import type { SessionState } from '../types.js';

export interface CommandContext {
  session: ImapSession;
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
