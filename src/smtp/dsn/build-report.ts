import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { splitHeaderBlock } from '../../crypto/seal/header-block.js';
import { formatRfc5322Date } from '../../crypto/seal/rfc5322-date.js';
import { humanText, subjectOf, type ReportLine } from './report-texts.js';

export interface DeliveryReportInput {
  /** This gateway's host name (Reporting-MTA). */
  reportingMta: string;
  domain: string;
  /** The envelope sender of the original: the report goes to it. */
  to: string;
  /** Outer (sealed) Message-ID of the original. */
  originalMessageId: string;
  queuedAt: Date;
  envid: string | null;
  /** RFC 3461 RET: FULL returns the (sealed) original, HDRS or absent its header only. */
  ret: 'FULL' | 'HDRS' | null;
  line: ReportLine & { orcpt: string | null; lastAttempt: Date | null; willRetryUntil: Date | null };
  /** The sealed original: nothing medical is readable in it. */
  sealedOriginal: Buffer | undefined;
}

/** RFC 3461 §4: xtext "+XX" escapes. */
function decodeXtext(value: string): string {
  return value.replace(/\+([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** The enhanced status code (RFC 3463) in a remote reply, else a default that fits the action. */
export function statusOf(line: ReportLine, expired: boolean): string {
  const found = line.diagnostic?.match(/\b([245])\.(\d{1,3})\.(\d{1,3})\b/);
  if (line.action === 'delivered') return '2.0.0';
  if (found) return `${found[1]}.${found[2]}.${found[3]}`;
  if (line.action === 'delayed') return '4.4.1';
  return expired ? '4.4.7' : '5.0.0';
}

function deliveryStatus(input: DeliveryReportInput, expired: boolean): string {
  const { line } = input;
  const perMessage = [
    `Reporting-MTA: dns; ${input.reportingMta}`,
    ...(input.envid ? [`Original-Envelope-Id: ${decodeXtext(input.envid)}`] : []),
    `Arrival-Date: ${formatRfc5322Date(input.queuedAt)}`,
  ];
  const perRecipient = [
    ...(line.orcpt ? [`Original-Recipient: ${decodeXtext(line.orcpt)}`] : []),
    `Final-Recipient: rfc822; ${line.recipient}`,
    `Action: ${line.action}`,
    `Status: ${statusOf(line, expired)}`,
    // `smtp;` only for a real SMTP reply; a connection or TLS failure is medgate's own diagnostic.
    ...(line.diagnostic ? [`Diagnostic-Code: ${/^[245]\d\d[ -]/.test(line.diagnostic) ? 'smtp' : 'x-medgate'}; ${line.diagnostic}`] : []),
    ...(line.lastAttempt ? [`Last-Attempt-Date: ${formatRfc5322Date(line.lastAttempt)}`] : []),
    ...(line.willRetryUntil ? [`Will-Retry-Until: ${formatRfc5322Date(line.willRetryUntil)}`] : []),
  ];
  return [...perMessage, '', ...perRecipient, ''].join('\r\n');
}

/**
 * An RFC 3464 delivery report: multipart/report; report-type=delivery-status with the bilingual
 * human part, the message/delivery-status part and the original per RET. Composed by nodemailer's
 * MailComposer; only the top content type is changed from multipart/mixed to multipart/report.
 */
export async function buildDeliveryReport(input: DeliveryReportInput, expired = false): Promise<Buffer> {
  const attachments: Array<Record<string, unknown>> = [
    { contentType: 'message/delivery-status', content: deliveryStatus(input, expired), contentTransferEncoding: '7bit', contentDisposition: 'inline', filename: false },
  ];
  if (input.sealedOriginal) {
    if (input.ret === 'FULL') {
      attachments.push({ contentType: 'message/rfc822', content: input.sealedOriginal, contentTransferEncoding: '7bit', contentDisposition: 'inline', filename: false });
    } else {
      const { header } = splitHeaderBlock(input.sealedOriginal);
      attachments.push({ contentType: 'text/rfc822-headers', content: header, contentTransferEncoding: '7bit', contentDisposition: 'inline', filename: false });
    }
  }
  const composer = new MailComposer({
    from: `Mail Delivery System <postmaster@${input.domain}>`,
    to: input.to,
    subject: subjectOf(input.line.action),
    date: new Date(),
    headers: { 'Auto-Submitted': 'auto-replied' },
    text: humanText(input.line, formatRfc5322Date(input.queuedAt), input.originalMessageId),
    attachments,
  });
  const root = composer.compile();
  root.setHeader('Content-Type', 'multipart/report; report-type=delivery-status');
  return new Promise<Buffer>((resolve, reject) => root.build((err: Error | null, buf: Buffer) => (err ? reject(err) : resolve(buf))));
}
