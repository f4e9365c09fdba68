/**
 * One IMAP connection: reads frames, runs one command at a time through its handler, keeps the
 * state machine (not-authenticated -> authenticated -> selected -> logout) and the selected
 * mailbox view, pushes mailbox changes during IDLE, and handles STARTTLS, timeouts and socket
 * errors. Nothing a client sends can throw out of this class: every failure becomes a BAD/NO
 * response, or a logged disconnect of this connection only.
 */
import type { GuardTicket } from '../net/connection-guard.js';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ImapUserSession, MailboxChange } from './backend.js';
import { commandHandlers } from './commands/index.js';
import type { CommandResult, CommandSession, PendingSelection } from './commands/types.js';
import { isMedgateError } from '../errors.js';
import { ImapParseError, responseCodeFor } from './errors.js';
import type { MailboxView } from './mailbox-view.js';
import { MessageLoader } from './message-loader.js';
import { CommandReader, type Frame } from './parser/command-reader.js';
import { parseCommand } from './parser/tokenizer.js';
import { statusLine, untagged, type ImapValue } from './response.js';
import type { ServerContext, SessionState } from './types.js';

/** Read-ahead beyond this many bytes of complete commands pauses the socket. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024;

function frameSize(frame: Frame): number {
  return frame.type === 'command' ? frame.parts.reduce((sum, part) => sum + part.data.length, 0) : 0;
}

const GUESS_TAG = /^([^\s(){%*"\\\]+]{1,64}) /;

export class ImapSession implements CommandSession {
  readonly id = randomBytes(6).toString('hex');
  readonly remoteAddress: string;
  state: SessionState = 'not-authenticated';
  secure: boolean;
  user: ImapUserSession | null = null;
  selected: MailboxView | null = null;
  idling = false;
  /** CONDSTORE was enabled by the client (RFC 7162 §3.1): responses then carry MODSEQ. */
  condstore = false;
  loader: MessageLoader | null = null;

  private socket: Socket;
  private readonly reader: CommandReader;
  private frames: Frame[] = [];
  private queuedBytes = 0;
  private frameWaiter: ((frame: Frame | null) => void) | null = null;
  private closed = false;
  private corked = false;
  private cleanedUp = false;
  private badCommands = 0;
  private countedUser: string | null = null;
  /** The listener's connection limits for this connection (pre-auth deadline, data rate). */
  ticket: GuardTicket | undefined;
  private readonly onData = (data: Buffer): void => {
    this.reader.push(data);
    this.ticket?.expectData(this.reader.inLiteral);
  };
  private readonly onTimeout = (): void => {
    this.ctx.logger.info({ session: this.id }, 'imap connection timed out');
    // Not awaited: a client that stopped reading would never let the write drain.
    if (!this.closed && !this.socket.destroyed) this.socket.write('* BYE Autologout; idle for too long\r\n');
    this.close();
  };

  constructor(
    socket: Socket,
    secure: boolean,
    readonly ctx: ServerContext,
  ) {
    this.socket = socket;
    this.secure = secure;
    this.remoteAddress = socket.remoteAddress ?? 'unknown';
    const limits = ctx.limits;
    this.reader = new CommandReader(
      {
        maxLineLength: limits.maxLineLength,
        maxLiteralSize: limits.maxLiteralSize,
        appendLimit: limits.appendLimit,
        maxCommandSize: limits.maxCommandSize,
      },
      {
        onFrame: (frame) => this.enqueue(frame),
        onContinuationNeeded: () => {
          this.uncork(); // the client waits for it
          void this.write(Buffer.from('+ Ready for literal data\r\n'));
        },
        appendAllowed: () => this.state === 'authenticated' || this.state === 'selected',
      },
    );
  }

  get limits(): ServerContext['limits'] {
    return this.ctx.limits;
  }

  start(): void {
    this.ctx.logger.debug({ session: this.id, remoteAddress: this.remoteAddress, secure: this.secure }, 'imap connection opened');
    this.attach(this.socket);
    void this.write(Buffer.from(`* OK [CAPABILITY ${this.capabilities().join(' ')}] ${this.ctx.serverName} ready\r\n`));
    this.run().catch((err: unknown) => {
      this.ctx.logger.error({ session: this.id, err }, 'imap session failed');
      this.close();
    });
  }

  private attach(socket: Socket): void {
    socket.on('data', this.onData);
    socket.on('error', (err: Error) => this.ctx.logger.debug({ session: this.id, err: err.message }, 'imap socket error'));
    socket.once('close', () => this.handleClose());
    socket.setTimeout(this.state === 'not-authenticated' ? this.limits.preAuthTimeoutMs : this.limits.idleTimeoutMs);
    socket.on('timeout', this.onTimeout);
  }

  capabilities(): string[] {
    const caps = ['IMAP4rev1', 'LITERAL+', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'NAMESPACE', 'UNSELECT'];
    if (this.state === 'not-authenticated') {
      if (this.secure) caps.push('AUTH=PLAIN');
      else caps.push('STARTTLS', 'LOGINDISABLED');
    } else {
      caps.push('UIDPLUS', 'MOVE', 'CHILDREN', 'SPECIAL-USE', 'LIST-EXTENDED', 'LIST-STATUS', 'BINARY', `APPENDLIMIT=${this.limits.appendLimit}`);
      if (this.user?.supportsModseq) caps.push('CONDSTORE');
    }
    return caps;
  }

  // ---- output -------------------------------------------------------------------------------

  async write(data: Buffer): Promise<void> {
    const socket = this.socket;
    if (this.closed || socket.destroyed) return;
    if (socket.write(data)) return;
    // A corked socket never drains: let what is buffered go before waiting.
    this.uncork();
    // Back-pressure: wait until the client reads (or goes away) before producing more.
    await new Promise<void>((resolve) => {
      const done = (): void => {
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.once('drain', done);
      socket.once('close', done);
    });
  }

  async untagged(...values: ImapValue[]): Promise<void> {
    await this.write(untagged(...values));
  }

  /**
   * The responses of one command leave in as few TLS records and system calls as possible: the
   * socket is corked while the command runs and uncorked after its tagged reply, or after the last
   * of the pipelined commands already read (or as soon as back-pressure, a continuation request or
   * waiting for the client asks for it). An imaptest FETCH of 20 messages was 21 TLS records.
   */
  private cork(): void {
    if (this.corked || this.closed || this.socket.destroyed) return;
    this.socket.cork();
    this.corked = true;
  }

  private uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    this.socket.uncork();
  }

  // ---- input --------------------------------------------------------------------------------

  private enqueue(frame: Frame): void {
    if (this.frameWaiter) {
      const waiter = this.frameWaiter;
      this.frameWaiter = null;
      waiter(frame);
      return;
    }
    this.frames.push(frame);
    this.queuedBytes += frameSize(frame);
    if (this.frames.length >= this.limits.maxPipelinedCommands || this.queuedBytes > MAX_QUEUED_BYTES) this.socket.pause();
  }

  /** The next complete frame from the client, or null once the connection is gone. */
  nextFrame(): Promise<Frame | null> {
    const frame = this.frames.shift();
    if (frame) {
      this.queuedBytes -= frameSize(frame);
      if (this.frames.length < this.limits.maxPipelinedCommands && this.queuedBytes <= MAX_QUEUED_BYTES && this.socket.isPaused()) this.socket.resume();
      return Promise.resolve(frame);
    }
    if (this.closed) return Promise.resolve(null);
    // Waiting for the client (IDLE's DONE, an AUTHENTICATE answer): it must see what we wrote.
    this.uncork();
    return new Promise((resolve) => {
      this.frameWaiter = resolve;
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      const frame = await this.nextFrame();
      if (!frame) return;
      this.cork();
      // Our time, not the client's: the data rate does not run while a command is handled.
      this.ticket?.busy(true);
      try {
        await this.handleFrame(frame);
      } finally {
        this.ticket?.busy(false);
        // Pipelined commands already read: their answers join this one's in one flush, as a
        // client that pipelines waits for them all (imaptest sends 3-7 commands per round).
        if (this.frames.length === 0) this.uncork();
      }
      if (this.closed || this.state === 'logout') return;
    }
  }

  private async handleFrame(frame: Frame): Promise<void> {
    if (frame.type === 'error') {
      await this.write(statusLine(frame.tag ?? '*', frame.status, frame.message, frame.code));
      if (frame.fatal) {
        await this.write(Buffer.from('* BYE Protocol error\r\n'));
        this.close();
      } else {
        await this.countBad();
      }
      return;
    }
    let tag: string | null = null;
    try {
      const command = parseCommand(frame.parts, this.limits.maxNestingDepth);
      tag = command.tag;
      const handler = commandHandlers.get(command.name);
      if (!handler) throw new ImapParseError('Unknown command');
      if (!handler.states.includes(this.state)) {
        await this.write(statusLine(tag, 'BAD', `${command.name} is not allowed now`));
        await this.countBad();
        return;
      }
      let result: CommandResult;
      try {
        result = await handler.handle({ session: this, tag, args: command.args, uid: false });
      } catch (err) {
        if (err instanceof ImapParseError) throw err;
        result = this.failure(err);
      }
      if (result.status === 'BAD') await this.countBad();
      else this.badCommands = 0;
      if (result.allowUpdates !== false) await this.flushUpdates(result.allowExpunge ?? true);
      await this.write(statusLine(tag, result.status, result.text, result.code));
      if (result.after) {
        this.uncork(); // STARTTLS: the OK goes out in clear before the handshake; LOGOUT: before the close
        await result.after();
      }
    } catch (err) {
      if (!(err instanceof ImapParseError)) throw err;
      const guessed = tag ?? GUESS_TAG.exec((frame.parts[0]?.data ?? Buffer.alloc(0)).subarray(0, 100).toString('latin1'))?.[1];
      await this.write(statusLine(guessed ?? '*', 'BAD', err.message));
      await this.countBad();
    }
  }

  private failure(err: unknown): CommandResult {
    if (isMedgateError(err)) {
      const code = responseCodeFor(err.code);
      return code ? { status: 'NO', code, text: err.message } : { status: 'NO', text: err.message };
    }
    // A command interrupted by a disconnect is not a server fault.
    if (this.closed) this.ctx.logger.debug({ session: this.id, err }, 'imap command interrupted by disconnect');
    else this.ctx.logger.error({ session: this.id, err }, 'imap command failed');
    return { status: 'NO', code: 'SERVERBUG', text: 'Internal server error' };
  }

  private async countBad(): Promise<void> {
    this.badCommands++;
    if (this.badCommands >= this.limits.maxBadCommands) {
      await this.write(Buffer.from('* BYE Too many invalid commands\r\n'));
      this.close();
    }
  }

  // ---- mailbox updates ----------------------------------------------------------------------

  /**
   * Reports queued mailbox changes. After a command (not during IDLE) the backend first delivers
   * what is still in flight, so the client's own APPEND/COPY into this mailbox is announced before
   * its tagged OK.
   */
  async flushUpdates(allowExpunge: boolean, settle = true): Promise<void> {
    if (settle && this.selected && this.user?.settle) await this.user.settle();
    const view = this.selected;
    if (!view || !view.hasPending()) return;
    for (const response of view.drain(allowExpunge, this.condstore)) await this.write(response);
  }

  /**
   * Starts watching a mailbox *before* its snapshot is read, so no change can fall between the
   * snapshot and the subscription (duplicates are harmless: the view ignores what it knows).
   */
  beginSelect(name: string, claimRecent: boolean): PendingSelection {
    const user = this.requireUser();
    const early: MailboxChange[] = [];
    let target: MailboxView | null = null;
    const unsubscribe = user.onChange(name, (change) => {
      if (!target) {
        early.push(change);
        return;
      }
      target.queue(change);
      if (this.idling && this.selected === target) void this.flushUpdates(true, false);
    }, { claimRecent });
    return {
      cancel: unsubscribe,
      complete: (view: MailboxView) => {
        this.deselect();
        target = view;
        for (const change of early) view.queue(change);
        view.unsubscribe = unsubscribe;
        this.selected = view;
        this.state = 'selected';
      },
    };
  }

  deselect(): void {
    if (this.selected) this.selected.unsubscribe();
    this.selected = null;
    if (this.state === 'selected') this.state = 'authenticated';
  }

  /** Turns CONDSTORE on; false when the backend has no mod-sequences. */
  enableCondstore(): boolean {
    if (!this.user?.supportsModseq) return false;
    this.condstore = true;
    return true;
  }

  requireUser(): ImapUserSession {
    if (!this.user) throw new Error('no authenticated user');
    return this.user;
  }

  requireLoader(): MessageLoader {
    if (!this.loader) throw new Error('no authenticated user');
    return this.loader;
  }

  requireSelected(): MailboxView {
    if (!this.selected) throw new Error('no selected mailbox');
    return this.selected;
  }

  // ---- authentication -----------------------------------------------------------------------

  /** Records a successful login; false (and the user session closed) when over the connection limit. */
  async authenticated(user: ImapUserSession): Promise<boolean> {
    const count = this.ctx.userConnections.get(user.user) ?? 0;
    if (count >= this.limits.maxConnectionsPerUser) {
      await user.close().catch(() => undefined);
      return false;
    }
    this.ctx.userConnections.set(user.user, count + 1);
    this.countedUser = user.user;
    this.user = user;
    this.loader = new MessageLoader(user, this.ctx.logger);
    this.state = 'authenticated';
    this.ticket?.authenticated();
    this.socket.setTimeout(this.limits.idleTimeoutMs);
    return true;
  }

  loggingIn(on: boolean): void {
    this.ticket?.loggingIn(on);
  }

  // ---- STARTTLS -----------------------------------------------------------------------------

  /** Stops reading clear text before the OK goes out, so nothing can be injected before TLS. */
  prepareStartTls(): void {
    this.socket.off('data', this.onData);
    this.socket.pause();
  }

  async upgradeToTls(): Promise<void> {
    const plain = this.socket;
    plain.off('timeout', this.onTimeout);
    plain.setTimeout(0);
    this.reader.reset();
    this.frames = [];
    this.queuedBytes = 0;
    const secure = new TLSSocket(plain, { isServer: true, secureContext: this.ctx.secureContext });
    this.socket = secure;
    this.ticket?.countWith(secure); // clear text from here on (see GuardTicket.countWith)
    this.secure = true;
    secure.on('error', (err: Error) => this.ctx.logger.debug({ session: this.id, err: err.message }, 'imap tls error'));
    secure.on('data', this.onData);
    secure.on('timeout', this.onTimeout);
    secure.setTimeout(this.limits.preAuthTimeoutMs);
  }

  // ---- end ----------------------------------------------------------------------------------

  /** The connection guard gives up on this connection: a BYE saying why (not awaited: the client may not read), then close. */
  closeFor(reason: string): void {
    this.uncork();
    if (!this.closed && !this.socket.destroyed) this.socket.write(`* BYE ${reason}\r\n`);
    this.close();
  }

  /** Server shutdown: tell the client, then close. */
  async shutdown(reason: string): Promise<void> {
    this.uncork();
    await Promise.race([this.write(Buffer.from(`* BYE ${reason}\r\n`)), new Promise((resolve) => setTimeout(resolve, 500))]);
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.handleClose();
  }

  private handleClose(): void {
    this.closed = true;
    this.reader.close();
    if (this.frameWaiter) {
      const waiter = this.frameWaiter;
      this.frameWaiter = null;
      waiter(null);
    }
    // close() and the socket's 'close' event both land here; release resources once.
    if (this.cleanedUp) return;
    this.cleanedUp = true;
    this.ctx.logger.debug({ session: this.id, remoteAddress: this.remoteAddress }, 'imap connection closed');
    this.state = 'logout';
    this.deselect();
    if (this.countedUser) {
      const count = (this.ctx.userConnections.get(this.countedUser) ?? 1) - 1;
      if (count > 0) this.ctx.userConnections.set(this.countedUser, count);
      else this.ctx.userConnections.delete(this.countedUser);
      this.countedUser = null;
    }
    const user = this.user;
    this.user = null;
    this.loader = null;
    if (user) user.close().catch((err: unknown) => this.ctx.logger.warn({ session: this.id, err }, 'imap backend close failed'));
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
