import fs from 'node:fs';

/**
 * The first `max` bytes of a file (fewer when it is shorter), and its size: what the large-message
 * paths read to look at a header block without reading the body.
 */
export async function readFileHead(file: string, max: number): Promise<{ head: Buffer; size: number }> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const { size } = await fh.stat();
    const buf = Buffer.alloc(Math.min(size, max));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return { head: buf.subarray(0, bytesRead), size };
  } finally {
    await fh.close();
  }
}
