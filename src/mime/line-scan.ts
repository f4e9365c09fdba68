/**
 * mailsplit's MIME splitter (`MessageSplitter.prototype._transform`) finds each line end with a
 * JavaScript loop over every byte. Every submission goes through it once in the sealing worker
 * (src/message/mime-scan: 36 % of the 0.9 ms a bench message's scan takes, profiled), and IMAP's
 * BODYSTRUCTURE and the record server's inspection go through it again. Here the line end is found
 * with `Buffer.indexOf` (memchr).
 *
 * Everything else is @zone-eu/mailsplit 5.4.30's method as it is, statement for statement, with
 * the module's `trimBodyLineEnd` and `YIELD_BYTES` it uses: only the `while` that stepped over each
 * byte that is not a line feed jumps to the next line feed, so `i` takes the same values at every
 * line end, each line is handed to processLine() with the same bounds, and the batching (a yield
 * every YIELD_BYTES) happens at the same lines. Since those module-private parts are copied too,
 * it is installed only while the whole of message-splitter.js, not just the method, is the file
 * checked (src/util/checked-source.ts); test/mime/line-scan.test.ts holds the two equal (every
 * chunk the splitter emits, its type, bytes, node headers and errors) on hand-picked and random
 * messages cut at random places.
 *
 * The copied code is mailsplit's, under its MIT licence:
 * Copyright (c) 2011-2019, 2024 Andris Reinman and Zone Media OÜ. Permission is hereby granted,
 * free of charge, to any person obtaining a copy of this software and associated documentation
 * files (the "Software"), to deal in the Software without restriction, including without
 * limitation the rights to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 * copies of the Software, and to permit persons to whom the Software is furnished to do so, subject
 * to the following conditions: The above copyright notice and this permission notice shall be
 * included in all copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS",
 * WITHOUT WARRANTY OF ANY KIND (the full text: node_modules/@zone-eu/mailsplit/LICENSE.MIT).
 */
import { createRequire } from 'node:module';
import type { Transform, TransformCallback } from 'node:stream';
import MessageSplitter from '@zone-eu/mailsplit/lib/message-splitter.js';
import { isCheckedFile, isCheckedSource } from '../util/checked-source.js';

/** sha256 of the source of @zone-eu/mailsplit 5.4.30's `MessageSplitter.prototype._transform`. */
export const CHECKED_MAILSPLIT_TRANSFORM = 'e0d9845ff4e927e0a66be6138d6209d9876050cb89d7bf46d1328dc40e8ae8d2';
/** sha256 of @zone-eu/mailsplit 5.4.30's lib/message-splitter.js, whose private helpers are copied below. */
export const CHECKED_MAILSPLIT_FILE = '5ff22792ceaffd71c8061d1e8ecf20e18e1efdf6a4fb9bf5fa3053ae4a0002f4';

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

const MAILSPLIT_FILE = createRequire(import.meta.url).resolve('@zone-eu/mailsplit/lib/message-splitter.js');

/**
 * Whether the mailsplit in use is the code checked: its method and the file it comes from (`file`
 * is for the test, which hands it a changed copy).
 */
export function isCheckedMailsplit(file = MAILSPLIT_FILE): boolean {
  return isCheckedSource(prototype._transform === fastSplitterTransform ? mailsplitTransform : prototype._transform, CHECKED_MAILSPLIT_TRANSFORM)
    && isCheckedFile(file, CHECKED_MAILSPLIT_FILE);
}

let installed: boolean | undefined;

/** Puts the replacement in place if mailsplit's method is the one checked; says whether it did. Idempotent. */
export function installFastMimeLineScan(): boolean {
  if (installed !== undefined) return installed;
  installed = isCheckedMailsplit();
  if (installed) prototype._transform = fastSplitterTransform;
  return installed;
}
