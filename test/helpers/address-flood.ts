/**
 * A flood of HTTPS requests spread over many loopback source addresses, each address kept under its
 * own limits, so that only what bounds a flood as a whole is at work: what the refusal-flood suites
 * send (test/audit/refusal-flood.test.ts to the record-server API, test/console/refusal-flood.test.ts
 * to the record console).
 */
import https from 'node:https';

/**
 * `perAddress` requests from each of `addresses` (loopback addresses), ten addresses at a time, each
 * address's requests over one keep-alive agent bound to it (two sockets, trusting `ca`); `request`
 * makes one request over the agent it is given and returns its status. The statuses, in no set order.
 */
export async function requestsFromAddresses(o: { addresses: string[]; perAddress: number; ca: string; request: (agent: https.Agent) => Promise<number> }): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < o.addresses.length; i += 10) {
    statuses.push(...(await Promise.all(o.addresses.slice(i, i + 10).map(async (from) => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 2, ca: o.ca, localAddress: from });
      try {
        return await Promise.all(Array.from({ length: o.perAddress }, () => o.request(agent)));
      } finally {
        agent.destroy();
      }
    }))).flat());
  }
  return statuses;
}
