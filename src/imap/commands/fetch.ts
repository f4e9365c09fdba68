/** FETCH / UID FETCH: one untagged FETCH per message, written as it is built (no whole-mailbox buffering). */
import type { MessageMeta, MessageStream } from '../backend.js';
import { ImapError, ImapErrorCode, ImapParseError } from '../errors.js';
import { visibleFlags, type MessageState } from '../mailbox-view.js';
import { renderBodyStructure, renderEnvelope } from '../mime/bodystructure.js';
import { extractSection, resolvePart } from '../mime/section.js';
import { decodeTransferEncoding } from '../mime/transfer-decoding.js';
import { parseSequenceSet } from '../parser/sequence-set.js';
import { tokenList, tokenText, type Token } from '../parser/tokenizer.js';
import { atom, encodeValues, literal, type ImapValue } from '../response.js';
import { formatDateTime } from './args.js';
import { needsMeta, needsRaw, parseFetchItems, setsSeen, type FetchItem, type Partial } from './fetch-items.js';
import { SELECTED, no, ok, type CommandHandler, type CommandSession } from './types.js';

function slice(bytes: Buffer, partial: Partial | undefined): Buffer {
  if (!partial) return bytes;
  const end = partial.length === undefined ? bytes.length : partial.start + partial.length;
  return bytes.subarray(Math.min(partial.start, bytes.length), Math.min(end, bytes.length));
}

class UnknownEncoding extends Error {}

function binaryContent(raw: Buffer, meta: MessageMeta, path: number[]): Buffer {
  if (path.length === 0) return raw;
  const part = resolvePart(meta.structure, path);
  if (!part) return Buffer.alloc(0);
  if (part.type === 'multipart') throw new ImapParseError('BINARY cannot decode a multipart');
  const decoded = decodeTransferEncoding(raw.subarray(part.bodyStart, part.bodyEnd), part.encoding);
  if (!decoded) throw new UnknownEncoding();
  return decoded;
}

function renderItem(item: FetchItem, message: MessageState, raw: Buffer | null, meta: MessageMeta | null): ImapValue[] {
  switch (item.kind) {
    case 'FLAGS':
      return [atom('FLAGS'), visibleFlags(message).map(atom)];
    case 'UID':
      return [atom('UID'), message.uid];
    case 'MODSEQ':
      return [atom('MODSEQ'), [message.modseq ?? 0]];
    case 'INTERNALDATE':
      return [atom('INTERNALDATE'), formatDateTime(message.internalDate)];
    case 'RFC822.SIZE':
      return [atom('RFC822.SIZE'), message.size];
    case 'ENVELOPE':
      return [atom('ENVELOPE'), renderEnvelope(meta!.envelope)];
    case 'BODYSTRUCTURE':
      return [atom('BODYSTRUCTURE'), renderBodyStructure(meta!.structure, true)];
    case 'BODY':
      return [atom('BODY'), renderBodyStructure(meta!.structure, false)];
    case 'RFC822':
      return [atom('RFC822'), literal(raw!)];
    case 'RFC822.HEADER':
      return [atom('RFC822.HEADER'), literal(raw!.subarray(meta!.structure.headerStart, meta!.structure.bodyStart))];
    case 'RFC822.TEXT':
      return [atom('RFC822.TEXT'), literal(raw!.subarray(meta!.structure.bodyStart, meta!.structure.bodyEnd))];
    case 'section': {
      const bytes = extractSection(raw!, meta ?? ({} as MessageMeta), item.section);
      return [atom(item.label), literal(slice(bytes, item.partial))];
    }
    case 'binary': {
      const bytes = slice(binaryContent(raw!, meta!, item.path), item.partial);
      return [atom(item.label), literal(bytes, bytes.includes(0))];
    }
    case 'binary.size':
      return [atom(item.label), binaryContent(raw!, meta!, item.path).length];
  }
}

/** The one item asking for the whole message (`BODY[]`, `BODY.PEEK[]`, `RFC822`) when nothing else needs its bytes: it can be streamed. */
function streamableItem(items: FetchItem[]): FetchItem | undefined {
  const whole = items.filter((item) => item.kind === 'RFC822' ||
    (item.kind === 'section' && !item.partial && item.section.kind === '' && item.section.path.length === 0));
  if (whole.length !== 1) return undefined;
  return items.every((item) => item === whole[0] || !needsRaw(item)) ? whole[0] : undefined;
}

/** Thrown once a streamed literal had to stop short: the connection is closed, nothing more is written. */
class StreamStopped extends Error {}

/**
 * One FETCH response whose message literal is written as the backend decrypts it (issue 31): the
 * size goes first (`{n}`), then the bytes. If the stream fails (the message does not verify), the
 * literal is left incomplete and the connection closed: the client never holds a truncated or
 * unverified message as complete (docs/secure-message-format.md §11.1).
 */
async function writeStreamed(session: CommandSession, seq: number, before: ImapValue[], label: string, stream: MessageStream, after: ImapValue[]): Promise<void> {
  const head = Buffer.concat([Buffer.from(`* ${seq} FETCH (`), encodeValues(before), Buffer.from(`${before.length ? ' ' : ''}${label} {${stream.size}}\r\n`)]);
  await session.write(head);
  try {
    for await (const chunk of stream.chunks) {
      if (session.state === 'logout') break; // the client went away: for-await's return() releases the decryption
      await session.write(chunk);
    }
  } catch (err) {
    session.ctx.logger.warn({ session: session.id, code: (err as { code?: string }).code }, 'imap streamed FETCH stopped mid-literal: connection closed');
    session.close();
    throw new StreamStopped();
  }
  await session.write(Buffer.concat([after.length ? Buffer.concat([Buffer.from(' '), encodeValues(after)]) : Buffer.alloc(0), Buffer.from(')\r\n')]));
}

/** FETCH modifier `(CHANGEDSINCE n)` (RFC 7162 §3.1.4). */
function parseChangedSince(token: Token | undefined): number | null {
  if (!token) return null;
  const items = tokenList(token);
  if (items.length !== 2 || tokenText(items[0]).toUpperCase() !== 'CHANGEDSINCE') throw new ImapParseError('Unknown FETCH modifier');
  const value = tokenText(items[1]);
  if (!/^\d{1,19}$/.test(value)) throw new ImapParseError('Invalid mod-sequence');
  return Number(value);
}

async function markSeen(session: CommandSession, messages: MessageState[]): Promise<Set<number>> {
  const view = session.requireSelected();
  const unseen = messages.filter((m) => !m.flags.includes('\\Seen')).map((m) => m.uid);
  if (view.readOnly || unseen.length === 0) return new Set();
  const updates = await session.requireUser().setFlags(view.name, unseen, 'add', ['\\Seen']);
  // The answer carries every flag, also keywords another session just set: announce them first.
  for (const response of view.announceKeywords(updates.flatMap((u) => u.flags))) await session.write(response);
  for (const update of updates) view.setFlags(update.uid, update.flags, update.modseq);
  return new Set(updates.map((u) => u.uid));
}

export const fetch: CommandHandler = {
  states: SELECTED,
  async handle({ session, args, uid }) {
    if (args.length !== 2 && args.length !== 3) throw new ImapParseError('FETCH takes a sequence set and data items');
    const set = parseSequenceSet(tokenText(args[0]));
    const items = parseFetchItems(args[1]);
    const changedSince = parseChangedSince(args[2]);
    if (uid && !items.some((item) => item.kind === 'UID')) items.unshift({ kind: 'UID' });
    if (items.some((item) => item.kind === 'MODSEQ') || changedSince !== null) {
      if (!session.enableCondstore()) throw new ImapParseError('CONDSTORE is not supported');
      if (!items.some((item) => item.kind === 'MODSEQ')) items.push({ kind: 'MODSEQ' });
    }
    const view = session.requireSelected();
    const loader = session.requireLoader();
    const messages = view.resolve(set, uid).filter((m) => changedSince === null || (m.modseq ?? 0) > changedSince);
    const seenChanged = items.some(setsSeen) ? await markSeen(session, messages) : new Set<number>();
    const wantsFlags = items.some((item) => item.kind === 'FLAGS');
    const wantRaw = items.some(needsRaw);
    const wantMeta = items.some(needsMeta);
    const streamed = streamableItem(items);
    const user = session.requireUser();
    let missing = 0;
    for (const message of messages) {
      let raw: Buffer | null = null;
      let meta: MessageMeta | null = null;
      try {
        const stream = streamed && user.streamMessage ? await user.streamMessage(view.name, message.uid) : null;
        if (stream) {
          try {
            if (wantMeta) meta = await loader.meta(view.name, view.uidValidity, message.uid);
            const at = items.indexOf(streamed!);
            const before = items.slice(0, at).flatMap((item) => renderItem(item, message, null, meta));
            const after = items.slice(at + 1).flatMap((item) => renderItem(item, message, null, meta));
            if (seenChanged.has(message.uid) && !wantsFlags) after.push(atom('FLAGS'), visibleFlags(message).map(atom));
            if (seenChanged.has(message.uid) && session.condstore && !items.some((item) => item.kind === 'MODSEQ')) after.push(atom('MODSEQ'), [message.modseq ?? 0]);
            const seq = view.seqOf(message.uid);
            if (seq) await writeStreamed(session, seq, before, streamed!.kind === 'RFC822' ? 'RFC822' : (streamed as { label: string }).label, stream, after);
          } finally {
            await stream.chunks.return(undefined);
          }
          continue;
        }
        if (wantRaw) raw = await loader.raw(view.name, message.uid);
        if (wantMeta) meta = await loader.meta(view.name, view.uidValidity, message.uid, raw ?? undefined);
        const values: ImapValue[] = items.flatMap((item) => renderItem(item, message, raw, meta));
        if (seenChanged.has(message.uid) && !wantsFlags) values.push(atom('FLAGS'), visibleFlags(message).map(atom));
        if (seenChanged.has(message.uid) && session.condstore && !items.some((item) => item.kind === 'MODSEQ')) values.push(atom('MODSEQ'), [message.modseq ?? 0]);
        const seq = view.seqOf(message.uid);
        if (seq) await session.untagged(seq, atom('FETCH'), values);
      } catch (err) {
        if (err instanceof StreamStopped) return { ...no('FETCH stopped: the message did not verify', 'SERVERBUG'), allowExpunge: false };
        if (err instanceof UnknownEncoding) return { ...no('Unknown Content-Transfer-Encoding', 'UNKNOWN-CTE'), allowExpunge: uid };
        if (err instanceof ImapError && (err.code === ImapErrorCode.MESSAGE_GONE || err.code === ImapErrorCode.NO_SUCH_MAILBOX)) {
          missing++;
          continue;
        }
        throw err;
      }
    }
    // As Dovecot does: the other messages are served and the command succeeds; the client learns
    // of the expunge with its EXPUNGE response when one is allowed (RFC 2180 §4.1.2, RFC 5530).
    if (missing > 0) return { ...ok('Some messages were already expunged', 'EXPUNGEISSUED'), allowExpunge: uid };
    return { ...ok('FETCH completed'), allowExpunge: uid };
  },
};
