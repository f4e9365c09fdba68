/**
 * sealFile(): seal() for a message on disk, writing the sealed message to disk, in memory that
 * does not grow with the message. Same medgate/1 bytes as seal() would produce (up to the fresh
 * Message-ID, boundary and session keys): the header block is handled in memory as seal() does,
 * the body is streamed twice from the file — once for the content digest the routing header
 * carries (the header is written first), once through openpgp.js's streaming sign+encrypt and
 * the streamed armor.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as openpgp from 'openpgp';
import { CryptoError, CryptoErrorCode } from '../errors.js';
import { readRaw, readRawHead, type RawSource } from '../../util/spool-file.js';
import { armorStream } from './armor-stream.js';
import { splitHeaderBlock } from './header-block.js';
import { buildInnerEntity } from './inner-entity.js';
import { headerBlock, pgpMimeParts } from './outer-message.js';
import { signAndEncrypt, uniqueKeys } from './pgp.js';
import { sealedRoutingHeader } from './routing-header.js';
import { clientEncryptedBodyFields, planOuterLayer } from './seal-parts.js';
import type { SealOptions } from './seal.js';
import { noteStreamed } from '../../runtime/streamed-garbage.js';

/** The header block must end within this many bytes (parseForExtraction's bound, plus the blank line). */
const MAX_HEAD_BYTES = 1024 * 1024 + 2;

export interface SealFileOptions extends Omit<SealOptions, 'raw'> {
  /** The original message: a file, or an encrypted spool file with its key. */
  rawFile: RawSource;
  /** Created (must not exist), mode 0600, fsynced before sealFile returns. */
  outFile: string;
}

export interface SealFileResult {
  messageId: string;
  alreadyEncrypted: boolean;
  /** Size and sha256 of the sealed file (the store's blob id). */
  size: number;
  sha256: string;
}

export async function sealFile(opts: SealFileOptions): Promise<SealFileResult> {
  if (opts.recipientKeys.length === 0) throw new Error('sealFile: at least one recipient key is required');
  const { head, size: fileSize } = await readRawHead(opts.rawFile, MAX_HEAD_BYTES);
  const split = splitHeaderBlock(head);
  if (split.separator.length === 0 && fileSize > head.length) {
    throw new CryptoError(CryptoErrorCode.MALFORMED_STRUCTURE, 'The message header block does not end within 1 MiB');
  }
  const { header, separator } = split;
  const bodyOffset = header.length + separator.length;
  const { spans, alreadyEncrypted, messageId, transport } = planOuterLayer(header, opts.envelope.from, opts.outerSubject);

  // The encrypted payload: the inner entity's header block (built in memory as seal() builds it)
  // followed by the original body from the file; for client-encrypted input, the body alone.
  const innerHead = alreadyEncrypted ? Buffer.alloc(0) : buildInnerEntity(Buffer.concat([header, separator]), { fields: transport });
  const payload = (): Readable => Readable.from(concatStreams(innerHead, () => readRaw(opts.rawFile, bodyOffset)));

  const digest = createHash('sha256');
  await pipeline(payload(), new Writable({ write(chunk: Buffer, _e, cb) { digest.update(chunk); noteStreamed(chunk.length); cb(); } }));
  const routing = sealedRoutingHeader(opts.routing, digest.digest('hex'), new Date().toISOString());
  const routingCiphertext = await signAndEncrypt(Buffer.from(JSON.stringify(routing), 'utf8'), opts.signingKey, uniqueKeys([...opts.recipientKeys, ...opts.filingKeys]), 'binary');

  const out = await fs.promises.open(opts.outFile, 'wx', 0o600);
  const sha = createHash('sha256');
  let size = 0;
  const write = async (chunk: Buffer): Promise<void> => {
    sha.update(chunk);
    size += chunk.length;
    await out.write(chunk);
    noteStreamed(chunk.length);
  };
  try {
    if (alreadyEncrypted) {
      await write(Buffer.from(headerBlock(transport, 'client-encrypted', routingCiphertext, clientEncryptedBodyFields(header, spans)) + '\r\n', 'utf8'));
      for await (const chunk of readRaw(opts.rawFile, bodyOffset)) await write(chunk as Buffer);
    } else {
      const { head: mimeHead, tail } = pgpMimeParts(headerBlock(transport, 'sealed', routingCiphertext, []));
      await write(Buffer.from(mimeHead, 'utf8'));
      const message = await openpgp.createMessage({ binary: Readable.toWeb(payload()) as ReadableStream<Uint8Array>, format: 'binary' });
      const encrypted = await openpgp.encrypt({ message, encryptionKeys: uniqueKeys(opts.recipientKeys), signingKeys: opts.signingKey, format: 'binary' });
      const ciphertext = Readable.fromWeb(encrypted as import('node:stream/web').ReadableStream<Uint8Array>);
      for await (const chunk of armorStream(ciphertext)) await write(chunk);
      await write(Buffer.from(tail, 'latin1'));
    }
    await out.sync();
  } catch (err) {
    await out.close().catch(() => undefined);
    await fs.promises.rm(opts.outFile, { force: true });
    throw err;
  }
  await out.close();
  return { messageId, alreadyEncrypted, size, sha256: sha.digest('hex') };
}

async function* concatStreams(first: Buffer, rest: () => Readable): AsyncGenerator<Buffer> {
  if (first.length) yield first;
  for await (const chunk of rest()) yield chunk as Buffer;
}

