/** Command name -> handler. One file per command, as in Gluon. */
import { append } from './append.js';
import { authenticate } from './authenticate.js';
import { capability } from './capability.js';
import { close } from './close.js';
import { copy } from './copy.js';
import { create } from './create.js';
import { deleteMailbox } from './delete.js';
import { enable } from './enable.js';
import { expunge } from './expunge.js';
import { fetch } from './fetch.js';
import { id } from './id.js';
import { idle } from './idle.js';
import { list } from './list.js';
import { login } from './login.js';
import { logout } from './logout.js';
import { lsub } from './lsub.js';
import { move } from './move.js';
import { namespace } from './namespace.js';
import { check, noop } from './noop.js';
import { rename } from './rename.js';
import { search } from './search.js';
import { examine, select } from './select.js';
import { starttls } from './starttls.js';
import { status } from './status.js';
import { store } from './store.js';
import { subscribe } from './subscribe.js';
import type { CommandHandler } from './types.js';
import { uid } from './uid.js';
import { unselect } from './unselect.js';
import { unsubscribe } from './unsubscribe.js';

export const commandHandlers: ReadonlyMap<string, CommandHandler> = new Map<string, CommandHandler>([
  ['APPEND', append],
  ['AUTHENTICATE', authenticate],
  ['CAPABILITY', capability],
  ['CHECK', check],
  ['CLOSE', close],
  ['COPY', copy],
  ['CREATE', create],
  ['DELETE', deleteMailbox],
  ['ENABLE', enable],
  ['EXAMINE', examine],
  ['EXPUNGE', expunge],
  ['FETCH', fetch],
  ['ID', id],
  ['IDLE', idle],
  ['LIST', list],
  ['LOGIN', login],
  ['LOGOUT', logout],
  ['LSUB', lsub],
  ['MOVE', move],
  ['NAMESPACE', namespace],
  ['NOOP', noop],
  ['RENAME', rename],
  ['SEARCH', search],
  ['SELECT', select],
  ['STARTTLS', starttls],
  ['STATUS', status],
  ['STORE', store],
  ['SUBSCRIBE', subscribe],
  ['UID', uid],
  ['UNSELECT', unselect],
  ['UNSUBSCRIBE', unsubscribe],
]);
