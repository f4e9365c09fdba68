/**
 * The DATA scans of nodemailer (relay out) and smtp-server (submission and relay in), done with
 * memchr instead of a JavaScript loop per byte. Called where medgate makes its SMTP servers and
 * peer connections; idempotent.
 */
import { installFastDotStuffing } from './dot-stuffing.js';
import { installFastDotUnstuffing } from './dot-unstuffing.js';

export function installFastDataScans(): { dotStuffing: boolean; dotUnstuffing: boolean } {
  return { dotStuffing: installFastDotStuffing(), dotUnstuffing: installFastDotUnstuffing() };
}
