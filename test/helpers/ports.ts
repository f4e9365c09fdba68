import net from 'node:net';

/**
 * Ports for the gateways a test starts. They are chosen below Linux's ephemeral range (32768–60999
 * by default), so no client socket of any process takes one between the choice and the gateway's
 * bind, and each vitest worker draws from a slice of its own, so two suites running side by side
 * do not pick the same one. (Asking the OS for port 0 gave ephemeral ports: another suite's
 * outgoing connection, or its own free-port probe, could take the port before the gateway bound it.)
 */
const RANGE_START = 20_000;
const SLICE = 1_500;
const SLICES = 8;

const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 0);
const sliceStart = RANGE_START + ((Number.isFinite(worker) ? worker : 0) % SLICES) * SLICE;
// A random place in the slice: the files a worker runs one after another do not reuse each
// other's ports while a previous gateway may still be exiting.
let cursor = Math.floor(Math.random() * SLICE);
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A TCP port free on 127.0.0.1 now, from this worker's slice, not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < SLICE; tries++) {
    const port = sliceStart + (cursor++ % SLICE);
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port left in ${sliceStart}-${sliceStart + SLICE - 1}`);
}

/** Several distinct free ports. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) ports.push(await freePort());
  return ports;
}
