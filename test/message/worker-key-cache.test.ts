import { describe, expect, it } from 'vitest';
import { KeyCache } from '../../src/message/worker/seal-worker.js';

describe('worker key cache', () => {
  it('drops keys unused for longer than the idle limit, keeps recently used ones, and is bounded', async () => {
    let now = 0;
    let parses = 0;
    const cache = new KeyCache(3, async (armored: string) => { parses++; return `parsed:${armored}`; }, 1000, () => now);
    expect(await cache.get('a')).toBe('parsed:a');
    now = 600;
    await cache.get('b');
    now = 900;
    await cache.get('a'); // used again: fresh
    expect(parses).toBe(2);
    now = 1700; // b idle 1100 ms: dropped; a idle 800 ms: kept
    await cache.get('c');
    expect(cache.size).toBe(2);
    await cache.get('a');
    expect(parses).toBe(3);
    await cache.get('b');
    expect(parses).toBe(4); // parsed again: it had been dropped
    await cache.get('d'); // a, c, b, d: over 3, the least recently used (c) goes
    await cache.get('c');
    expect(parses).toBe(6);
  });

  it('sweep() drops idle keys without any lookup (a quiet worker gets none)', async () => {
    let now = 0;
    const cache = new KeyCache(10, async (armored: string) => armored, 1000, () => now);
    await cache.get('a');
    now = 500;
    await cache.get('b');
    now = 1200;
    cache.sweep();
    expect(cache.size).toBe(1);
    now = 1600;
    cache.sweep();
    expect(cache.size).toBe(0);
  });
});
