/** Test messages built by hand so every byte is known. */

const pdfBytes = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.from(Array.from({ length: 300 }, (_, i) => i % 256)), Buffer.from('\n%%EOF\n')]);

export const PDF_BYTES = pdfBytes;

function base64Lines(data: Buffer): string {
  return (data.toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

export function multipartWithPdf(subject = 'Compte rendu'): Buffer {
  return Buffer.from(
    [
      'From: "Dr Alice Martin" <alice@cabinet.example>',
      'To: bob@hopital.example, Team: carol@lab.example, dan@lab.example;',
      'Cc: =?utf-8?q?Zo=C3=A9?= <zoe@lab.example>',
      `Subject: ${subject}`,
      'Date: Mon, 02 Mar 2026 10:00:00 +0100',
      'Message-ID: <abc123@cabinet.example>',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      'This is a preamble.',
      '--outer',
      'Content-Type: multipart/alternative; boundary="inner"',
      '',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'R=C3=A9sultat normal.',
      'Deuxi=C3=A8me ligne.',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>Resultat normal</p>',
      '--inner--',
      '',
      '--outer',
      'Content-Type: application/pdf; name="cr.pdf"',
      'Content-Disposition: attachment; filename="cr.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      base64Lines(pdfBytes),
      '--outer',
      'Content-Type: message/rfc822',
      '',
      'From: eve@lab.example',
      'Subject: inner message',
      '',
      'Inner body line',
      '--outer--',
      '',
    ].join('\r\n'),
  );
}

export function simpleMessage(opts: { from?: string; to?: string; subject: string; body: string; date?: string }): Buffer {
  return Buffer.from(
    [
      `From: ${opts.from ?? 'alice@cabinet.example'}`,
      `To: ${opts.to ?? 'bob@hopital.example'}`,
      `Subject: ${opts.subject}`,
      `Date: ${opts.date ?? 'Tue, 03 Mar 2026 09:30:00 +0100'}`,
      'Message-ID: <' + Math.random().toString(36).slice(2) + '@cabinet.example>',
      'Content-Type: text/plain; charset=utf-8',
      '',
      opts.body,
      '',
    ].join('\r\n'),
  );
}
