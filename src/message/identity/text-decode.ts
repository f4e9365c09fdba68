/** Text of a file whose charset nobody declared: valid UTF-8 is UTF-8, anything else ISO-8859-1. */
export function decodeUnlabelledText(bytes: Uint8Array): string {
  const withoutBom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(withoutBom);
  } catch {
    return Buffer.from(withoutBom).toString('latin1');
  }
}
