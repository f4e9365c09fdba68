/** Seeded randomness and random chunkings for the equivalence tests of the library replacements. */

/** A small seeded generator (LCG), so that a failing case can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

/** Cuts `bytes` into chunks: about 30 % of at most `smallMax` bytes, the others of at most `largeMax`. */
export function cutAtRandom(bytes: Buffer, next: () => number, smallMax: number, largeMax: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length;) {
    const n = 1 + Math.floor(next() * Math.min(bytes.length - at, next() < 0.3 ? smallMax : largeMax));
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return chunks;
}
