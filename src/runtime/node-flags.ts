/**
 * Node/V8 flags `medgate serve` is meant to run with. They are command-line flags because V8 reads
 * them when it starts: changing GC flags later (v8.setFlagsFromString) aborts the process at the
 * next collection. `npm start`, the `medgate` bin's shebang and docs/operations.md pass them.
 *
 * --single-threaded-gc: by default V8 marks, sweeps and scavenges on helper threads. In a gateway
 * whose sealing workers already keep every core busy, those helpers only compete for the same
 * cores: on the 2-core machines medgate targets they took about a quarter of the CPU of each
 * submitted message (bench/smtp.bench.ts, docs/smtp.md). Collections then run on the thread that
 * allocated, each isolate (main thread, every worker) on its own.
 *
 * --incremental-marking-soft-trigger=80 --incremental-marking-hard-trigger=95: when V8 starts a
 * full (mark-compact) collection. By default it starts one as soon as the old generation's room
 * left before its limit is no larger than the young generation. The sealing workers' heaps are
 * small while their young generations are large (3 × 32 MB, seal-pool.ts), so that rule fired
 * after a few MB of growth. With the triggers, marking starts at 80 % of the way from the last
 * collection to the limit (at once at 95 %): over a bench run the workers' full collections went
 * from 28 to 13, the time spent marking from 1.85 to 1.27 s and the final pauses from 633 to 231
 * ms, gateway A's CPU per message 15.8–16.5 → 14.6–14.8 ms, the same peak memory
 * (bench/smtp.bench.ts, docs/operations.md "Node flags"). The main thread's collections are not
 * fewer (one every 0.6 s): V8 counts the Buffers it allocates (about 1 MB a message) as old-
 * generation growth, and those reach 80 % as quickly.
 *
 * --heap-growing-percent=300: how far past the live heap V8 sets the next collection's limit
 * (× 4 instead of V8's own factor, which for a small heap under steady allocation is about × 1.1 to
 * × 1.5). The main thread keeps ≈ 38 MB live, and the Buffers of about a second's messages under
 * load (≈ 60 of ≈ 1 MB) reached the old limit: a full collection every ≈ 60 messages, ≈ 100 ms of marking each
 * (--trace-gc, 2026-12-06). At × 4: one every ≈ 3.5 s (36 → 8 in a bench run), gateway A's main
 * thread 6.1/5.3 → 5.3/4.1 ms a message in two alternating pairs of bench runs, for ≈ 50 MB more
 * peak memory (583 → 627-631 MB). The limit V8 grows towards is unchanged (--max-old-space-size).
 *
 * --expose-gc: lets the streaming paths of a large message collect the young generation every 1 MB
 * (worker threads) or 4 MB (main thread) streamed (src/runtime/streamed-garbage.ts): V8 otherwise keeps up to ~64 MB of dead chunk buffers
 * per isolate (main thread and sealing thread) before it collects them. It exposes `gc()` to our
 * own code only; without the flag those paths simply do not collect.
 *
 * --max-semi-space-size=16: the main thread's young generation, as Node 20 had it (two 16 MB
 * semi-spaces). Node 24's V8 sizes them from the heap limit, 32 MB each on a machine of a few GB or
 * more, and the new space, once grown, stays committed: under one 25 MB message the main heap went
 * from 67 to ~108 MB committed. With 16: 75-78 MB, and the 25 MB peaks with the doctors logged in
 * A +54-60 → +28 MB, B +28 → +23 MB above idle; under the SMTP bench's load gateway A's peak RSS
 * 660-688 → 540-585 MB for the same CPU per message (main thread 5.0/5.7 against 4.8/5.7 ms, two
 * alternating pairs; docs/operations.md "Node flags"). The sealing threads set their own
 * (SEAL_WORKER_YOUNG_GENERATION_MB, seal-pool.ts), which this does not change.
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--incremental-marking-soft-trigger=80', '--incremental-marking-hard-trigger=95', '--heap-growing-percent=300', '--expose-gc', '--max-semi-space-size=16'];

/** The recommended flags this process was started without. */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
