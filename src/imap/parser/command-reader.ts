/**
 * Frames the byte stream of one connection into complete commands. A command is one or more text
 * lines joined by literals (`{n}` synchronising, `{n+}` non-synchronising, RFC 7888). Commands may
 * span many TCP packets and literals may hold arbitrary binary bytes. Limits are enforced here,
 * before anything is buffered: line length, literal size (APPENDLIMIT for APPEND) and total size.
 * Violations become error frames answered in order by the session; the reader itself never throws.
 */

export type CommandPart = { kind: 'text'; data: Buffer } | { kind: 'literal'; data: Buffer };

export type Frame =
  | { type: 'command'; parts: CommandPart[] }
  | { type: 'error'; tag: string | null; status: 'NO' | 'BAD'; code?: string; message: string; fatal: boolean };

export interface ReaderLimits {
  /** Longest text line (without literals) in bytes. */
  maxLineLength: number;
  /** Largest literal accepted outside APPEND. */
  maxLiteralSize: number;
  /** Largest APPEND literal (advertised as APPENDLIMIT). */
  appendLimit: number;
  /** Largest whole command outside APPEND (text plus literals). */
  maxCommandSize: number;
}

export interface ReaderCallbacks {
  onFrame(frame: Frame): void;
  /** A synchronising literal was accepted: the client waits for a continuation request. */
  onContinuationNeeded(): void;
  /** Whether APPEND-sized literals are acceptable now (false before login, so strangers cannot make us buffer megabytes). */
  appendAllowed(): boolean;
}

/** Text of a continuation line (AUTHENTICATE response, IDLE's DONE); null if the frame is not one plain line. */
export function frameAsLine(frame: Frame): string | null {
  if (frame.type !== 'command' || frame.parts.length !== 1) return null;
  return (frame.parts[0]?.data ?? Buffer.alloc(0)).toString('utf8');
}

const LITERAL_AT_END = /\{(\d{1,20})(\+?)\}$/;
const TAG_AND_COMMAND = /^([^\s(){%*"\\\]+]+) +(?:UID +)?([A-Za-z]+)/;

export class CommandReader {
  private parts: CommandPart[] = [];
  private lineChunks: Buffer[] = [];
  private lineLength = 0;
  private commandSize = 0;
  private literalChunks: Buffer[] = [];
  private literalRemaining = 0;
  private mode: 'line' | 'literal' | 'discard-line' | 'closed' = 'line';
  /** Tag of the command being read, known once its first line is complete (for error replies). */
  private currentTag: string | null = null;
  private currentCommand = '';

  constructor(
    private readonly limits: ReaderLimits,
    private readonly callbacks: ReaderCallbacks,
  ) {}

  /** Drops any partial command (used after STARTTLS so nothing sent in clear leaks into TLS). */
  reset(): void {
    this.parts = [];
    this.lineChunks = [];
    this.lineLength = 0;
    this.commandSize = 0;
    this.literalChunks = [];
    this.literalRemaining = 0;
    this.currentTag = null;
    this.currentCommand = '';
    if (this.mode !== 'closed') this.mode = 'line';
  }

  close(): void {
    this.mode = 'closed';
  }

  /** Inside a literal: the client owes us bytes (a minimum data rate applies). */
  get inLiteral(): boolean {
    return this.mode === 'literal';
  }

  push(data: Buffer): void {
    let offset = 0;
    while (offset < data.length && this.mode !== 'closed') {
      if (this.mode === 'literal') {
        const take = Math.min(this.literalRemaining, data.length - offset);
        this.literalChunks.push(data.subarray(offset, offset + take));
        this.literalRemaining -= take;
        offset += take;
        if (this.literalRemaining === 0) {
          this.parts.push({ kind: 'literal', data: Buffer.concat(this.literalChunks) });
          this.literalChunks = [];
          this.mode = 'line';
        }
        continue;
      }
      const lf = data.indexOf(0x0a, offset);
      const end = lf === -1 ? data.length : lf;
      if (this.mode === 'discard-line') {
        offset = end + 1;
        if (lf !== -1) this.reset();
        continue;
      }
      const piece = data.subarray(offset, end);
      this.lineLength += piece.length;
      if (this.lineLength > this.limits.maxLineLength) {
        this.lineChunks.push(piece);
        const tag = this.currentTag ?? this.peekTag();
        this.emitError(tag, 'BAD', 'TOOBIG', 'Command line too long', false);
        this.mode = 'discard-line';
        this.lineChunks = [];
        offset = end;
        continue;
      }
      this.lineChunks.push(piece);
      offset = end + 1;
      if (lf !== -1) this.finishLine();
    }
  }

  private peekTag(): string | null {
    const head = Buffer.concat(this.lineChunks).subarray(0, 200).toString('latin1');
    const match = TAG_AND_COMMAND.exec(head);
    return match?.[1] ?? null;
  }

  private finishLine(): void {
    let line = Buffer.concat(this.lineChunks);
    this.lineChunks = [];
    this.lineLength = 0;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    if (this.parts.length === 0) {
      const match = TAG_AND_COMMAND.exec(line.subarray(0, 200).toString('latin1'));
      this.currentTag = match?.[1] ?? null;
      this.currentCommand = (match?.[2] ?? '').toUpperCase();
    }
    this.parts.push({ kind: 'text', data: line });
    this.commandSize += line.length;

    const literal = LITERAL_AT_END.exec(line.subarray(Math.max(0, line.length - 25)).toString('latin1'));
    if (!literal) {
      this.callbacks.onFrame({ type: 'command', parts: this.parts });
      this.reset();
      return;
    }
    const size = Number(literal[1]);
    const nonSync = literal[2] === '+';
    const isAppend = this.currentCommand === 'APPEND' && this.callbacks.appendAllowed();
    const cap = isAppend ? this.limits.appendLimit : this.limits.maxLiteralSize;
    const totalTooBig = !isAppend && this.commandSize + size > this.limits.maxCommandSize;
    if (size > cap || totalTooBig) {
      const message = isAppend ? 'Message exceeds APPENDLIMIT' : 'Literal too large';
      if (nonSync) {
        // The client is already sending the bytes; we cannot resynchronise on the stream.
        this.emitError(this.currentTag, 'BAD', 'TOOBIG', message, true);
        this.mode = 'closed';
        return;
      }
      // Synchronising: the client waits for "+", so refusing ends the command cleanly.
      this.emitError(this.currentTag, isAppend ? 'NO' : 'BAD', 'TOOBIG', message, false);
      this.reset();
      return;
    }
    this.commandSize += size;
    this.literalRemaining = size;
    this.literalChunks = [];
    if (!nonSync) this.callbacks.onContinuationNeeded();
    if (size === 0) {
      this.parts.push({ kind: 'literal', data: Buffer.alloc(0) });
      return;
    }
    this.mode = 'literal';
  }

  private emitError(tag: string | null, status: 'NO' | 'BAD', code: string, message: string, fatal: boolean): void {
    this.callbacks.onFrame({ type: 'error', tag, status, code, message, fatal });
  }
}
