/**
 * mailsplit's MIME splitter as medgate uses it: with its line scan done by memchr (line-scan.ts)
 * when mailsplit's code is the one checked. Every part of medgate that splits MIME takes the
 * splitter from here, so the replacement is in place in each thread (main and sealing workers)
 * before a message is split.
 */
import mailsplit from '@zone-eu/mailsplit';
import { installFastMimeLineScan } from './line-scan.js';

installFastMimeLineScan();

export const Splitter = mailsplit.Splitter;
