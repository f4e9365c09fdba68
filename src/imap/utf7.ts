/**
 * Modified UTF-7 for mailbox names (RFC 3501 §5.1.3): printable ASCII stands for itself except `&`
 * (written `&-`); anything else is UTF-16BE in base64 with `,` instead of `/`, between `&` and `-`.
 */

export function encodeMailboxName(name: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const bytes = Buffer.alloc(pending.length * 2);
    pending.forEach((unit, i) => bytes.writeUInt16BE(unit, i * 2));
    out += '&' + bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = [];
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0x20 && unit <= 0x7e) {
      flush();
      out += unit === 0x26 ? '&-' : name[i];
    } else {
      pending.push(unit);
    }
  }
  flush();
  return out;
}

export function decodeMailboxName(encoded: string): string {
  return encoded.replace(/&([^-]*)-/g, (_match, chunk: string) => {
    if (chunk === '') return '&';
    const bytes = Buffer.from(chunk.replace(/,/g, '/'), 'base64');
    let text = '';
    for (let i = 0; i + 1 < bytes.length; i += 2) text += String.fromCharCode(bytes.readUInt16BE(i));
    return text;
  });
}
