/**
 * "My module is loaded": each sealing worker says so once, so that closing the pool can wait for it.
 *
 * Why: on Node 20.19+ piscina loads the worker module with require(), and a worker terminated while
 * that synchronous load instantiates the module graph aborts the whole process (V8 fatal
 * "IsGraphAsync must be used on an instantiated module"). A pool closed just after it was opened —
 * a gateway whose listener cannot start, a test — did exactly that. Piscina passes a worker's
 * other parentPort messages on as the pool's 'message' event; the workerData flag keeps the
 * message from any parentPort that is not a sealing pool's (the module is also imported elsewhere).
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';

const SIGNAL = 'medgateSealWorkerLoaded';

export const SEAL_POOL_WORKER_DATA = { medgateSealPool: true } as const;

/**
 * Called at the worker module's top level. The message goes in a microtask: that runs once the
 * require() that evaluates the module has returned, so the load is over, native part included
 * (posted from the top level itself, a terminate could still land inside it: another V8 fatal).
 */
export function signalWorkerLoaded(): void {
  const port = parentPort;
  if (port && (workerData as { medgateSealPool?: unknown } | undefined)?.medgateSealPool === true) {
    queueMicrotask(() => port.postMessage({ [SIGNAL]: threadId }));
  }
}

/** The thread id in a message from a sealing worker that says it is loaded, else undefined. */
export function loadedWorkerOf(message: unknown): number | undefined {
  if (typeof message !== 'object' || message === null || !(SIGNAL in message)) return undefined;
  const id = (message as Record<string, unknown>)[SIGNAL];
  return typeof id === 'number' ? id : undefined;
}
