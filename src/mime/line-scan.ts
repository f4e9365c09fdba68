/**
 * mailsplit's MIME splitter (`MessageSplitter.prototype._transform`) finds each line end with a
 * JavaScript loop over every byte. Every submission goes through it once in the sealing worker
 * (src/message/mime-scan: 36 % of the 0.9 ms a bench message's scan takes, profiled), and IMAP's
 * BODYSTRUCTURE and the record server's inspection go through it again. Here the line end is found
 * with `Buffer.indexOf` (memchr).
 *
 * Everything else is @zone-eu/mailsplit 5.4.30's method as it is, statement for statement (MIT;
 * Andris Reinman and contributors): only the `while` that stepped over each byte that is not a
 * line feed jumps to the next line feed, so `i` takes the same values at every line end, each line
 * is handed to processLine() with the same bounds, and the batching (a yield every YIELD_BYTES)
 * happens at the same lines. It is installed only while mailsplit's method is that exact code
 * (src/util/checked-source.ts); test/mime/line-scan.test.ts holds the two equal (every chunk the
 * splitter emits, its type, bytes and node headers) on hand-picked and random messages cut at
 * random places.
 */
import type { Transform, TransformCallback } from 'node:stream';
import MessageSplitter from '@zone-eu/mailsplit/lib/message-splitter.js';
import { isCheckedSource } from '../util/checked-source.js';

/** sha256 of the source of @zone-eu/mailsplit 5.4.30's `MessageSplitter.prototype._transform`. */
export const CHECKED_MAILSPLIT_TRANSFORM = 'e0d9845ff4e927e0a66be6138d6209d9876050cb89d7bf46d1328dc40e8ae8d2';

/** Module constant of message-splitter.js (not exported): bytes between two yields to the event loop. */
const YIELD_BYTES = 16 * 1024;

/* eslint-disable @typescript-eslint/no-explicit-any -- mailsplit's groups and chunks are untyped objects */
type Group = any;
type ProcessLineCallback = (err?: Error | null, data?: any, flush?: boolean) => void;

/** The splitter's state and helpers the method uses (mailsplit has no types for them). */
interface SplitterState extends Transform {
  lineLength: number;
  hasFailed: boolean;
  appendPendingLine(chunk: Buffer): void;
  enforcePendingLineLimit(): Error | false | undefined;
  processLine(line: Buffer | false, final: boolean, callback: ProcessLineCallback): void;
  _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void;
}

const prototype = (MessageSplitter as unknown as { prototype: SplitterState }).prototype;

/** mailsplit's own method, kept for the equivalence test. */
export const mailsplitTransform: unknown = prototype._transform;

/** message-splitter.js's `trimBodyLineEnd`, as it is. */
function trimBodyLineEnd(group: Group, chunk: Buffer, start: number, end: number): number {
  if (group.type !== 'body' || !group.node || !group.node.parentNode) {
    return end;
  }
  if (end > start && chunk[end - 1] === 0x0a) {
    end--;
    if (end > start && chunk[end - 1] === 0x0d) {
      end--;
    }
  }
  return end;
}

/** The replacement (exported for the equivalence test). */
export function fastSplitterTransform(this: SplitterState, chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
  let pos = 0;
  let i = 0;
  let group: Group = { type: 'none' };
  let groupstart = this.lineLength ? -this.lineLength : 0;
  let groupend = 0;
  let yieldPos = 0;
  let inLine = false;
  let resumeInLine = false;

  const checkTrailingLinebreak = (data: Group): void => {
    if (data.type === 'body' && data.node.parentNode && data.value && data.value.length) {
      if (data.value[data.value.length - 1] === 0x0a) {
        groupstart--;
        groupend--;
        pos--;
        if (data.value.length > 1 && data.value[data.value.length - 2] === 0x0d) {
          groupstart--;
          groupend--;
          pos--;
          if (groupstart < 0 && !this.lineLength) {
            // store only <CR> as <LF> should be on the positive side
            this.appendPendingLine(Buffer.from([0x0d]));
          }
          data.value = data.value.slice(0, data.value.length - 2);
        } else {
          data.value = data.value.slice(0, data.value.length - 1);
        }
      } else if (data.value[data.value.length - 1] === 0x0d) {
        groupstart--;
        groupend--;
        pos--;
        data.value = data.value.slice(0, data.value.length - 1);
      }
    }
  };

  // eslint-disable-next-line prefer-const -- assigned below, as upstream
  let iterateData: () => void;

  const nextLine = (): void => {
    if (inLine && i - yieldPos < YIELD_BYTES) {
      resumeInLine = true;
      return;
    }
    setImmediate(iterateData);
  };

  const onLine: ProcessLineCallback = (err, data, flush) => {
    if (err) {
      this.hasFailed = true;
      setImmediate(() => callback(err));
      return;
    }
    if (!data) {
      nextLine();
      return;
    }
    if (flush) {
      if (group && group.type !== 'none') {
        groupend = trimBodyLineEnd(group, chunk, groupstart, groupend);
        if (groupstart < groupend) {
          group.value = chunk.slice(groupstart, groupend);
          if (groupend < i && 'value' in data) {
            data.value = chunk.slice(groupend, i);
          }
        }
        this.push(group);
        group = { type: 'none' };
        groupstart = groupend = i;
      }
      this.push(data);
      groupend = i;
      nextLine();
      return;
    }
    if (data.type === group.type) {
      groupend = i;
    } else {
      groupend = trimBodyLineEnd(group, chunk, groupstart, groupend);
      if (group.type !== 'none' && group.type !== 'node') {
        if (groupstart !== groupend) {
          group.value = chunk.slice(groupstart, groupend);
          if (group.value && group.value.length) {
            this.push(group);
            group = { type: 'none' };
          }
        }
      }
      if (data.type === 'node') {
        this.push(data);
        groupstart = i;
        groupend = i;
      } else if (groupstart < 0) {
        groupstart = i;
        groupend = i;
        checkTrailingLinebreak(data);
        if (data.value && data.value.length) {
          this.push(data);
        }
      } else {
        group = data;
        groupstart = groupend;
        groupend = i;
      }
    }
    nextLine();
  };

  iterateData = (): void => {
    yieldPos = i;
    while (i < chunk.length) {
      // The one change: upstream steps over each byte that is not <LF>; memchr finds the next one.
      const lf = chunk.indexOf(0x0a, i);
      if (lf < 0) {
        i = chunk.length;
        break;
      }
      i = lf;

      const start = Math.max(pos, 0);
      pos = ++i;

      inLine = true;
      resumeInLine = false;
      this.processLine(chunk.slice(start, i), false, onLine);
      inLine = false;
      if (!resumeInLine) {
        return;
      }
    }

    pos = trimBodyLineEnd(group, chunk, groupstart, pos);

    if (group.type !== 'none' && group.type !== 'node' && pos > groupstart) {
      group.value = chunk.slice(groupstart, pos);
      if (group.value && group.value.length) {
        this.push(group);
        group = { type: 'none' };
      }
    }

    if (pos < chunk.length) {
      this.appendPendingLine(chunk.slice(Math.max(pos, 0)));
    }

    const pendingLineError = this.enforcePendingLineLimit();
    if (pendingLineError) {
      this.hasFailed = true;
      callback(pendingLineError);
      return;
    }
    callback();
  };

  setImmediate(iterateData);
}

let installed: boolean | undefined;

/** Puts the replacement in place if mailsplit's method is the one checked; says whether it did. Idempotent. */
export function installFastMimeLineScan(): boolean {
  if (installed !== undefined) return installed;
  installed = isCheckedSource(prototype._transform, CHECKED_MAILSPLIT_TRANSFORM);
  if (installed) prototype._transform = fastSplitterTransform;
  return installed;
}
