import { performance, type EventLoopUtilization } from 'node:perf_hooks';

/**
 * How busy this thread's event loop has been lately (its utilisation over the last window, 0–1),
 * so that work which may run here or in a worker goes where it waits least: here when the thread
 * has time (a worker's round trip costs more than the work), to a worker when every session shares
 * this thread and it is the bound. Read on demand: no timer.
 */
export class EventLoopLoad {
  private last: EventLoopUtilization = performance.eventLoopUtilization();
  private lastAt = performance.now();
  private value = 0;

  constructor(private readonly windowMs = 200) {}

  utilization(): number {
    const now = performance.now();
    if (now - this.lastAt >= this.windowMs) {
      const current = performance.eventLoopUtilization();
      this.value = performance.eventLoopUtilization(current, this.last).utilization;
      this.last = current;
      this.lastAt = now;
    }
    return this.value;
  }
}
