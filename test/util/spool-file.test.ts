import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { materialise, spoolToFile } from '../../src/smtp/relay/spool.js';
import { newSpoolKey, readRaw, readRawHead, readRawWhole, SpoolWriter } from '../../src/util/spool-file.js';

/** The encrypted spool's own contract: clear text never on disk, every read gives the bytes back. */
describe('encrypted spool files', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'medgate-spool-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const message = Buffer.from('From: a@b.test\r\nSubject: MARQUEUR\r\n\r\n' + 'MARQUEUR ligne\r\n'.repeat(20_000));

  it('written in chunks: no clear byte on disk; whole, offset and head reads give the message back', async () => {
    const w = new SpoolWriter(newSpoolKey(path.join(dir, 'a')));
    for (let i = 0; i < message.length; i += 7001) await w.write(message.subarray(i, i + 7001));
    const file = await w.end();
    const disk = fs.readFileSync(file.path);
    expect(disk.length).toBe(message.length);
    expect(disk.includes(Buffer.from('MARQUEUR'))).toBe(false);
    expect((fs.statSync(file.path).mode & 0o777)).toBe(0o600);
    expect((await readRawWhole(file)).equals(message)).toBe(true);
    const tail: Buffer[] = [];
    for await (const c of readRaw(file, 12345)) tail.push(c as Buffer);
    expect(Buffer.concat(tail).equals(message.subarray(12345))).toBe(true);
    expect((await readRawHead(file, 40)).head.equals(message.subarray(0, 40))).toBe(true);
  });

  it('a short message read by its head to the end, and a changed file refused', async () => {
    const small = await spoolToFile(Readable.from([message.subarray(0, 100), message.subarray(100, 300)]), dir, 1e9);
    expect(small.bytes).toBe(300);
    expect((await readRawHead(small.file, 1e6)).head.equals(message.subarray(0, 300))).toBe(true);
    const disk = fs.readFileSync(small.file.path);
    disk[50] ^= 1;
    fs.writeFileSync(small.file.path, disk);
    await expect(readRawWhole(small.file)).rejects.toThrow(/authenticate/);
  });

  it('materialise: a spool changed on disk after it was written is refused, and leaves no file behind', async () => {
    const { file } = await spoolToFile(Readable.from([message]), dir, 1e9);
    const good = await materialise(file, path.join(dir, 'good.eml'));
    expect(fs.readFileSync(good).equals(message)).toBe(true);
    // One byte flipped past the header block (what a relay decision reads comes from memory, never from here).
    const fd = fs.openSync(file.path, 'r+');
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 200_000);
    fs.writeSync(fd, Buffer.from([b[0]! ^ 1]), 0, 1, 200_000);
    fs.closeSync(fd);
    const to = path.join(dir, 'bad.eml');
    await expect(materialise(file, to)).rejects.toThrow(/authenticate/);
    expect(fs.existsSync(to)).toBe(false);
  });
});
