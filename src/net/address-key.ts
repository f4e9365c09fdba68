/**
 * The client a per-address connection limit counts (src/net/connection-guard.ts). An IPv4 address
 * counts as itself, and so does an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`: a dual-stack
 * listener sees IPv4 clients that way). An IPv6 address counts by its /64: one host can hold a
 * whole /64 (privacy addresses, RFC 4941; a /64 routed to it), so counting single addresses would
 * let it open as many connections as it likes.
 */
import net from 'node:net';

/** The 8 groups of an IPv6 address (already checked by net.isIPv6), an IPv4 tail turned into two groups. */
function groupsOf(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = last.split('.').map(Number);
    tail.push((a << 8) | b, (c << 8) | d);
    // "::ffff:" or "1:2:3:4:5:6:" left: drop the final colon unless it is part of "::".
    text = text.slice(0, lastColon + 1);
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (part: string): number[] => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const double = text.indexOf('::');
  let groups: number[];
  if (double >= 0) {
    const head = parse(text.slice(0, double));
    const rest = parse(text.slice(double + 2));
    groups = [...head, ...new Array<number>(8 - tail.length - head.length - rest.length).fill(0), ...rest];
  } else {
    groups = parse(text);
  }
  return [...groups, ...tail];
}

export function addressKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const zone = address.indexOf('%');
  const bare = (zone >= 0 ? address.slice(0, zone) : address).trim().toLowerCase();
  if (net.isIPv4(bare)) return bare;
  if (!net.isIPv6(bare)) return bare;
  const g = groupsOf(bare);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const [hi = 0, lo = 0] = g.slice(6);
    return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return `${g.slice(0, 4).map((x) => x.toString(16)).join(':')}::/64`;
}
