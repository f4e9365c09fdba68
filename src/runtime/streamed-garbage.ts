/**
 * Frees the buffers a large streamed message leaves behind, as it streams.
 *
 * Every chunk of a streamed message (socket read, spool cipher, openpgp.js's packet framing, sign
 * and encrypt, armor) is a fresh ArrayBuffer that dies at once, but V8 frees an ArrayBuffer's memory
 * only when a collection finds its small JS wrapper dead. The young generation (3 × 32 MB in the
 * sealing threads) fills slowly with wrappers, and V8's own trigger on memory outside the heap is a
 * fixed 64 MB above the last collection, so each isolate streaming a 25 MB message held 60–90 MB of
 * dead chunks (bench/memory.bench.ts; a bare sign+encrypt of 25 MB: +89 MB of ArrayBuffers with
 * serve's flags, +24 MB when the young generation is collected every 4 MB, +7 MB every 1 MB, for
 * no measurable CPU: a scavenge of a young generation that is nearly all garbage costs little, and
 * fewer chunks get promoted. A streamed seal of 25 MB, 5 runs alternating 4 and 1 MB: 828-964 ms
 * and +53-55 MB of RSS against 850-900 ms and +12-14 MB; every 512 KB gained 5 MB more for +15 %
 * of time). The main thread keeps 4 MB (EVERY_BYTES).
 *
 * Needs `--expose-gc` (SERVE_NODE_FLAGS); without it this does nothing. Counts per isolate (each
 * worker thread has its own module instance).
 */
import { Transform } from 'node:stream';
import { isMainThread } from 'node:worker_threads';

/**
 * Every 1 MB in a worker thread (the sealing threads: their young generation holds little else, so
 * a scavenge costs next to nothing), every 4 MB on the main thread, whose young generation also
 * holds every session's objects: collecting it every 1 MB cost ~10 % more CPU over a run of the
 * test suite's gateways (3 files: 51.2 against 46.8 s of user time) for a few MB less at the peak.
 * On a quiet gateway (`collectOftenWhen`: no sealing thread running) the main thread collects every
 * 1 MB too: that CPU then costs no one anything, and it is when a large message is streamed and
 * sealed on the main thread (MessageSealer.sealFile).
 */
const OFTEN_BYTES = 1024 * 1024;
const MAIN_BYTES = 4 * 1024 * 1024;
let quiet: () => boolean = () => false;

type MinorGc = (options: { type: 'minor' }) => void;
const collect = (globalThis as { gc?: unknown }).gc as MinorGc | undefined;
let streamed = 0;

/**
 * Counts `bytes` streamed through this isolate; every 1 MB (worker, or the main thread of a quiet
 * gateway) or 4 MB (main thread), collects the young generation.
 */
export function noteStreamed(bytes: number): void {
  if (!collect) return;
  streamed += bytes;
  if (streamed < OFTEN_BYTES) return;
  if (isMainThread && streamed < MAIN_BYTES && !quiet()) return;
  streamed = 0;
  collect({ type: 'minor' });
}

/** The main thread collects every 1 MB, as worker threads do, while `probe()` says the gateway is quiet (server.ts). */
export function collectOftenWhen(probe: () => boolean): void {
  quiet = probe;
}

/** A pass-through stream that counts what goes through it (noteStreamed), for streams read by others. */
export function notingStream(): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      noteStreamed(chunk.length);
      done(null, chunk);
    },
  });
}
