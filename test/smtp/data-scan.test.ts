/**
 * The DATA reader put on smtp-server (src/smtp/data-scan/dot-unstuffing.ts) must read exactly what
 * smtp-server's own loop reads, for any bytes cut at any places: the same message bytes, DATA ended
 * at the same place, the same commands after it. A difference would change a submitted message or
 * let a client end DATA early and smuggle commands. Both replacements must also still be in place on
 * the versions this repository installs: after an upgrade their fingerprints stop matching, the
 * library keeps its own code, and this test says so.
 */
import { PassThrough } from 'node:stream';
import { SMTPStream } from 'smtp-server/lib/smtp-stream.js';
import { describe, expect, it } from 'vitest';
import { installFastDataScans } from '../../src/smtp/data-scan/index.js';
import { fastFeedDataStream, smtpServerFeed } from '../../src/smtp/data-scan/dot-unstuffing.js';
import { cutAtRandom, seededRandom } from '../helpers/random-cuts.js';

interface Reading { data: string; dataEnded: boolean; commands: string[] }

/** Feeds `chunks` to an SMTPStream in data mode and reports what it read. */
async function read(feed: unknown, chunks: Buffer[]): Promise<Reading> {
  const stream = new SMTPStream() as unknown as PassThrough & {
    _feedDataStream: unknown; oncommand: (line: Buffer, next: () => void) => void; startDataMode(): PassThrough; continue(): void;
  };
  stream._feedDataStream = feed;
  const commands: string[] = [];
  stream.oncommand = (line, next) => { commands.push(line.toString('latin1')); next(); };
  const dataStream = stream.startDataMode();
  const parts: Buffer[] = [];
  let dataEnded = false;
  dataStream.on('data', (b: Buffer) => parts.push(b));
  dataStream.on('end', () => { dataEnded = true; stream.continue(); });
  for (const c of chunks) await new Promise<void>((resolve) => stream.write(c, () => resolve()));
  // Let the escape-dot continuations (setImmediate) and the commands after DATA run out.
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  return { data: Buffer.concat(parts).toString('latin1'), dataEnded, commands };
}

const random = seededRandom;
const cut = (bytes: Buffer, next: () => number): Buffer[] => cutAtRandom(bytes, next, 4, 120);

describe('SMTP DATA scans', () => {
  it('are in place on the nodemailer and smtp-server this repository installs', () => {
    expect(installFastDataScans()).toEqual({ dotStuffing: true, dotUnstuffing: true });
    expect(smtpServerFeed).not.toBe(fastFeedDataStream);
  });

  it('read hand-picked DATA as smtp-server does, cut at every place', async () => {
    const cases = [
      '.\r\nQUIT\r\n', '..\r\n.\r\nQUIT\r\n', 'a\r\n.\r\nQUIT\r\n', 'a\r\n..b\r\n.\r\nRSET\r\n', '..\r\n..\r\n.\r\n',
      'line\r\n.x\r\n.\r\n', 'no end\r\n', 'x\n.\r\n.\r\nMAIL FROM:<a@b>\r\n', '\r\n.\r\n', 'a\r\n.\r\n.\r\nNOOP\r\n',
      'Subject: t\r\n\r\n...\r\n.\r\nQUIT\r\n', 'a\r\n.\n.\r\n', '.', '..', '\r\n..\r\n',
    ];
    // The harness itself reads what SMTP means: the message, then the command after it.
    expect(await read(smtpServerFeed, [Buffer.from('a\r\n..b\r\n.\r\nRSET\r\n')])).toEqual({ data: 'a\r\n.b\r\n', dataEnded: true, commands: ['RSET'] });
    for (const text of cases) {
      const bytes = Buffer.from(text, 'latin1');
      const splits: Buffer[][] = [[bytes], [...bytes].map((b) => Buffer.from([b]))];
      for (let i = 1; i < bytes.length; i++) splits.push([bytes.subarray(0, i), bytes.subarray(i)]);
      for (const chunks of splits) {
        const want = await read(smtpServerFeed, chunks);
        const got = await read(fastFeedDataStream, chunks);
        expect({ text, cut: chunks.map((c) => c.length), ...got }).toEqual({ text, cut: chunks.map((c) => c.length), ...want });
      }
    }
  });

  it('reads 1500 random DATA streams cut at random places as smtp-server does', async () => {
    const next = random(61206);
    const pieces = ['\r\n', '\r\n', '.', '.', '\n', '\r', 'a', 'QUIT', '\r\n.\r\n'];
    for (let n = 0; n < 1500; n++) {
      const text = Array.from({ length: Math.floor(next() * 60) }, () => pieces[Math.floor(next() * pieces.length)]).join('');
      const bytes = Buffer.from(text, 'latin1');
      const chunks = cut(bytes, next);
      const want = await read(smtpServerFeed, chunks);
      const got = await read(fastFeedDataStream, chunks);
      expect({ n, text: JSON.stringify(text), ...got }).toEqual({ n, text: JSON.stringify(text), ...want });
    }
  });
});
