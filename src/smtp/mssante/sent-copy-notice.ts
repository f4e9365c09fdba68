import { splitHeaderBlock } from '../../crypto/seal/header-block.js';
import { addressesOf } from '../../crypto/seal/header-values.js';

/**
 * The header the sender's Sent copy carries when some recipients got the message over MSSanté
 * transport security only (issue 28): the doctor sees, in the message itself, who could read it in
 * clear at another operator. It is inside the encryption, like every other header of the message.
 */
export const TRANSPORT_ONLY_HEADER = 'X-Medgate-Transport-Only';

export function transportOnlyNotice(recipients: string[]): string {
  return `${recipients.join(', ')}; MSSante: plain MIME over mutual TLS between health operators, not encrypted end to end`;
}

/**
 * The original message with the notice as its first header field (the rest byte for byte). The
 * same sealed bytes go to every keyed recipient too, so the notice names only the MSSanté
 * recipients the message's To and Cc already show, and counts the others: a Bcc stays blind.
 */
export function withTransportOnlyNotice(raw: Buffer, recipients: string[]): Buffer {
  const { header } = splitHeaderBlock(raw);
  const shown = new Set([...addressesOf(header, 'to'), ...addressesOf(header, 'cc')].map((a) => a.toLowerCase()));
  const named = recipients.filter((r) => shown.has(r.toLowerCase()));
  const blind = recipients.length - named.length;
  const listed = blind ? [...named, `${blind} undisclosed recipient${blind > 1 ? 's' : ''}`] : named;
  // Folded at the commas so that no line grows past RFC 5322's 998 characters.
  const value = transportOnlyNotice(listed).replace(/, /g, ',\r\n ');
  return Buffer.concat([Buffer.from(`${TRANSPORT_ONLY_HEADER}: ${value}\r\n`, 'utf8'), raw]);
}
