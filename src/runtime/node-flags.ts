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
 * left before its limit is no larger than the young generation. A gateway's heaps are small (the
 * main thread's about 40 MB live, a limit about twice that) while its young generations are large
 * (the workers' 3 × 32 MB, seal-pool.ts), so that rule fired after a few MB of growth: the main
 * thread ran a full collection every half second under load, most of it marking the same live
 * caches again. With the triggers, marking starts at 80 % of the limit (at once at 95 %): a third
 * as many full collections, gateway A's CPU per message 15.8–16.5 → 14.6–14.8 ms, the same peak
 * memory (bench/smtp.bench.ts, docs/operations.md "Speed targets").
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--incremental-marking-soft-trigger=80', '--incremental-marking-hard-trigger=95'];

/** The recommended flags this process was started without. */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
