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
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--single-threaded-gc'];

/** The recommended flags this process was started without. */
export function missingServeFlags(execArgv: readonly string[] = process.execArgv): string[] {
  return SERVE_NODE_FLAGS.filter((flag) => !execArgv.includes(flag));
}
