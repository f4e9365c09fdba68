/**
 * The streamed form of armorMessage (radix64.ts): same bytes — BEGIN line, blank line, base64 in
 * lines of 76 characters, `=` checksum line, END line, CRLF between lines — produced chunk by chunk
 * so a large ciphertext is never held whole.
 */
import { BEGIN, END, crc24, crc24Update, crcValueText } from './radix64.js';

/** 57 input bytes make one 76-character base64 line. */
const LINE_BYTES = 57;

export async function* armorStream(binary: AsyncIterable<Uint8Array>): AsyncGenerator<Buffer> {
  yield Buffer.from(`${BEGIN}\r\n\r\n`, 'latin1');
  let crc = crc24(new Uint8Array(0));
  let pending = Buffer.alloc(0);
  let first = true;
  for await (const chunk of binary) {
    crc = crc24Update(crc, chunk);
    const data = pending.length ? Buffer.concat([pending, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const whole = data.length - (data.length % LINE_BYTES);
    if (whole > 0) {
      yield lines(data.subarray(0, whole), first);
      first = false;
    }
    pending = Buffer.from(data.subarray(whole));
  }
  const tail = pending.length ? lines(pending, first).toString('latin1') + '\r\n' : (first ? '' : '\r\n');
  yield Buffer.from(`${tail}=${crcValueText(crc)}\r\n${END}`, 'latin1');
}

/** Base64 of whole lines' worth of bytes, CRLF between lines (and before them unless `first`). */
function lines(data: Buffer, first: boolean): Buffer {
  const b64 = data.toString('base64');
  const parts: string[] = [];
  for (let i = 0; i < b64.length; i += 76) parts.push(b64.slice(i, i + 76));
  return Buffer.from((first ? '' : '\r\n') + parts.join('\r\n'), 'latin1');
}
