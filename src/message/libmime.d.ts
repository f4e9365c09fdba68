/** The part of libmime (no types of its own) the submission scan uses; mailparser uses the same. */
declare module 'libmime' {
  import type { Transform } from 'node:stream';
  interface Libmime {
    decodeHeader(line: string): { key: string; value: string };
    decodeWords(value: string): string;
    detectMimeType(filename: string): string | false;
    createDecodeStream(charset: string): Transform;
  }
  const libmime: Libmime;
  export default libmime;
}
