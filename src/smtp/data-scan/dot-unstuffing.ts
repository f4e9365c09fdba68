/**
 * smtp-server's DATA reader (`SMTPStream._feedDataStream`) looks for the end of the message and for
 * escape dots with a JavaScript loop over every byte of every chunk: about 0.4 ms of the main
 * thread per submitted message here (perf, bench/smtp), the largest JavaScript cost left on it once
 * the relay's encoder was mended (dot-stuffing.ts). Both things it looks for start with a line feed
 * followed by a dot, so here the loop jumps from one "\n." to the next with `Buffer.indexOf`.
 *
 * Everything else is smtp-server 3.21.6's method as it is, statement for statement, including its
 * guards against DATA smuggling (the start-of-data terminator, the escape dot at the very start);
 * only the `for` loop over every index became a loop over the indices where a dot follows a line
 * feed, in the same order, with the same bounds (2 ≤ i < len − 2). It is installed only while
 * smtp-server's method is that exact code (src/util/checked-source.ts), and test/smtp/data-scan.test.ts holds
 * the two equal (the bytes the data stream receives, where DATA ends, what follows it) on
 * hand-picked and random inputs cut at random places.
 */
import type { PassThrough } from 'node:stream';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { isCheckedSource } from '../../util/checked-source.js';

/** sha256 of the source of smtp-server 3.21.6's `SMTPStream.prototype._feedDataStream`. */
export const CHECKED_SMTP_SERVER_FEED = '9d8b903f9a3a63542d72e19a9e2f67009a3b1107a28d57e8e7369355454ff230';

const END_SEQUENCE = Buffer.from('\r\n.\r\n');
const LF_DOT = Buffer.from('\n.');

type Done = (err?: Error) => void;

/** SMTPStream's state that the method reads and writes (smtp-server has no types for it). */
interface SmtpStreamState {
  _dataStream: PassThrough;
  _lastBytes: Buffer | false;
  _atDataStart: boolean;
  _countDataBytes(len: number): void;
  _endDataMode(chunk: Buffer | false, remainder: Buffer, callback: Done): void;
  _feedDataStream(chunk: Buffer, done: Done): void;
}

const prototype = SMTPStream.prototype as unknown as SmtpStreamState;

/** smtp-server's own method, kept for the equivalence test. */
export const smtpServerFeed: unknown = prototype._feedDataStream;

/** The replacement (exported for the equivalence test). */
export function fastFeedDataStream(this: SmtpStreamState, chunk: Buffer, done: Done): void {
  const dataStream = this._dataStream;
  let handled: boolean;
  let buf: Buffer;
  if (this._lastBytes && this._lastBytes.length) {
    chunk = Buffer.concat([this._lastBytes, chunk], this._lastBytes.length + chunk.length);
    this._lastBytes = false;
  }
  let len = chunk.length;
  // See smtp-server: a terminator right at the start of DATA (tested on _atDataStart, not on the
  // bytes emitted so far, or TCP segmentation could end DATA early and smuggle commands).
  if (this._atDataStart && len >= 3 && Buffer.compare(chunk.subarray(0, 3), Buffer.from('.\r\n')) === 0) {
    this._endDataMode(false, chunk.subarray(3), done);
    return;
  }
  // An escape dot as the very first byte is payload consumed: the dot after it is content.
  if (this._atDataStart && len >= 2 && chunk[0] === 0x2e && chunk[1] === 0x2e) {
    chunk = chunk.subarray(1);
    len--;
    this._atDataStart = false;
  }
  // Every i in 2 ≤ i < len − 2 with a dot at i after a line feed, in order (smtp-server: each i).
  for (let lf = chunk.indexOf(LF_DOT, 1); lf !== -1 && lf + 1 < len - 2; lf = chunk.indexOf(LF_DOT, lf + 1)) {
    const i = lf + 1;
    if (Buffer.compare(chunk.subarray(i - 2, i + 3), END_SEQUENCE) === 0) {
      // Everything before the terminator is content, the CRLF that ends the last line included.
      buf = chunk.subarray(0, i);
      this._countDataBytes(buf.length);
      this._endDataMode(buf, chunk.subarray(i + 3), done);
      return;
    }
    if (chunk[i + 1] === 0x2e) {
      // An escape dot: emit what came before, go on without the dot.
      buf = chunk.subarray(0, i);
      this._lastBytes = false;
      this._countDataBytes(buf.length);
      if (dataStream.writable) dataStream.write(buf);
      const rest = chunk.subarray(i + 1);
      setImmediate(() => this._feedDataStream(rest, done));
      return;
    }
  }
  // Keep the last bytes: a terminator may straddle this chunk and the next.
  this._lastBytes = chunk.length < 4 ? chunk : chunk.subarray(chunk.length - 4);
  if (this._lastBytes.length < chunk.length) {
    buf = chunk.subarray(0, chunk.length - this._lastBytes.length);
    this._countDataBytes(buf.length);
    if (dataStream.writable) {
      handled = dataStream.write(buf);
      if (!handled && !dataStream.destroyed) {
        // A stream that the application destroys never drains, it only closes.
        const onDrain = (): void => {
          dataStream.removeListener('drain', onDrain);
          dataStream.removeListener('close', onDrain);
          done();
        };
        dataStream.once('drain', onDrain);
        dataStream.once('close', onDrain);
      } else {
        return done();
      }
    } else {
      return done();
    }
  } else {
    return done();
  }
}

let installed: boolean | undefined;

/**
 * Puts the indexOf scan on smtp-server's SMTPStream, once; returns whether it is in place (false
 * when smtp-server's method is not the one checked).
 */
export function installFastDotUnstuffing(): boolean {
  if (installed !== undefined) return installed;
  installed = isCheckedSource(smtpServerFeed, CHECKED_SMTP_SERVER_FEED);
  if (installed) prototype._feedDataStream = fastFeedDataStream;
  return installed;
}
