/**
 * The SMTP DATA scans of src/smtp/data-scan and the MIME line scan of src/mime against the library
 * code they replace, same bytes, same run: nodemailer's DataStream encoder (every relayed message),
 * smtp-server's DATA reader (every submitted and every relayed-in message), on the bench/smtp
 * message's size (≈ 160 KB of CRLF base64 and armor lines, chunks of 64 KB as a socket gives them),
 * and mailsplit's splitter on the bench/smtp submission itself (20 KB text + 100 KB PDF; the
 * sealing worker's scan, IMAP's BODYSTRUCTURE). CPU per message (user + sys), best of 3 alternating
 * rounds; prints the ratio replacement ÷ library (lower is better).
 *
 *   npx tsx bench/data-scan.bench.ts      (BENCH_ROUNDS, default 300 messages a round)
 */
import { createRequire } from 'node:module';
import type { PassThrough, Transform } from 'node:stream';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { fastTransform, nodemailerTransform } from '../src/smtp/data-scan/dot-stuffing.js';
import { fastFeedDataStream, smtpServerFeed } from '../src/smtp/data-scan/dot-unstuffing.js';
import mailsplit from '@zone-eu/mailsplit';
import { fastSplitterTransform, mailsplitTransform } from '../src/mime/line-scan.js';
import { buildMessage } from './lib/smtp-load.js';

const require = createRequire(import.meta.url);
const DataStream = require('nodemailer/lib/smtp-connection/data-stream.js') as new () => Transform;
const N = Number(process.env.BENCH_ROUNDS ?? 300);
const CHUNK = 65536;
const line = 'JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZUR\r\n';
const body = Buffer.from(line.repeat(Math.ceil(160_000 / line.length)));
const dataCommand = Buffer.concat([body, Buffer.from('.\r\n')]);

function cpuMs(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1000;
}

async function encode(transform: unknown): Promise<number> {
  const t0 = process.cpuUsage();
  for (let n = 0; n < N; n++) {
    const s = new DataStream();
    (s as unknown as { _transform: unknown })._transform = transform;
    s.on('data', () => undefined);
    const ended = new Promise((r) => s.on('end', r));
    for (let o = 0; o < body.length; o += CHUNK) s.write(body.subarray(o, o + CHUNK));
    s.end();
    await ended;
  }
  return cpuMs(t0) / N;
}

async function readData(feed: unknown): Promise<number> {
  const t0 = process.cpuUsage();
  for (let n = 0; n < N; n++) {
    const s = new SMTPStream() as unknown as PassThrough & { _feedDataStream: unknown; oncommand: unknown; startDataMode(): PassThrough };
    s._feedDataStream = feed;
    s.oncommand = (_l: Buffer, next: () => void) => next();
    const d = s.startDataMode();
    d.on('data', () => undefined);
    const ended = new Promise((r) => d.on('end', r));
    for (let o = 0; o < dataCommand.length; o += CHUNK) s.write(dataCommand.subarray(o, o + CHUNK));
    await ended;
  }
  return cpuMs(t0) / N;
}

const submission = Buffer.from(buildMessage(1, ['jl@bench.test', 'claire@bench.test']));

async function splitMime(transform: unknown): Promise<number> {
  const t0 = process.cpuUsage();
  for (let n = 0; n < N; n++) {
    const s = new mailsplit.Splitter() as unknown as Transform & { _transform: unknown };
    s._transform = transform;
    s.on('data', () => undefined);
    const ended = new Promise((r) => s.on('end', r));
    for (let o = 0; o < submission.length; o += CHUNK) s.write(submission.subarray(o, o + CHUNK));
    s.end();
    await ended;
  }
  return cpuMs(t0) / N;
}

async function bestOf3(a: () => Promise<number>, b: () => Promise<number>): Promise<[number, number]> {
  let best: [number, number] = [Infinity, Infinity];
  for (let r = 0; r < 3; r++) best = [Math.min(best[0], await a()), Math.min(best[1], await b())];
  return best;
}

console.log(`SMTP DATA scans: ${(body.length / 1024).toFixed(0)} KB per message, ${N} messages a round, best of 3; Node ${process.version}`);
const [libOut, fastOut] = await bestOf3(() => encode(nodemailerTransform), () => encode(fastTransform));
console.log(`relay out, dot-stuffing   nodemailer ${libOut.toFixed(3)} ms   data-scan ${fastOut.toFixed(3)} ms   ratio ${(fastOut / libOut).toFixed(2)}×`);
const [libIn, fastIn] = await bestOf3(() => readData(smtpServerFeed), () => readData(fastFeedDataStream));
console.log(`DATA in, dot-unstuffing   smtp-server ${libIn.toFixed(3)} ms   data-scan ${fastIn.toFixed(3)} ms   ratio ${(fastIn / libIn).toFixed(2)}×`);
const [libSplit, fastSplit] = await bestOf3(() => splitMime(mailsplitTransform), () => splitMime(fastSplitterTransform));
console.log(`${`MIME split, ${(submission.length / 1024).toFixed(0)} KB`.padEnd(26)}mailsplit ${libSplit.toFixed(3)} ms   line-scan ${fastSplit.toFixed(3)} ms   ratio ${(fastSplit / libSplit).toFixed(2)}×`);
