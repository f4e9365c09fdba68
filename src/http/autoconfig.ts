import type http from 'node:http';
import type { MedgateConfig } from '../config/schema.js';
import type { RouteHandler } from './http-server.js';

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * Thunderbird autoconfiguration (the "config-v1.1.xml" format): Thunderbird asks the mail domain's
 * web server and configures IMAP + SMTP submission with TLS and the full address as user name.
 */
export function autoconfigXml(config: MedgateConfig): string {
  const host = xmlEscape(config.hostname);
  const l = config.listen;
  return `<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="${xmlEscape(config.domain)}">
    <domain>${xmlEscape(config.domain)}</domain>
    <displayName>medgate ${xmlEscape(config.domain)}</displayName>
    <displayShortName>medgate</displayShortName>
    <incomingServer type="imap">
      <hostname>${host}</hostname>
      <port>${l.imapTls}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>${host}</hostname>
      <port>${l.imap}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>${host}</hostname>
      <port>${l.smtpSubmissionTls}</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>${host}</hostname>
      <port>${l.smtpSubmission}</port>
      <socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`;
}

export function autoconfigRoutes(config: MedgateConfig): Record<string, RouteHandler> {
  const serve: RouteHandler = (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'content-type': 'application/xml; charset=utf-8', 'cache-control': 'max-age=3600' });
    res.end(autoconfigXml(config));
  };
  return { '/.well-known/autoconfig/mail/config-v1.1.xml': serve, '/mail/config-v1.1.xml': serve };
}
