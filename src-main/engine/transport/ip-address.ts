// IP address forms that several parts compare or report: a dual-stack socket reports an IPv4
// peer as ::ffff:a.b.c.d, and such a peer is reachable, and compares equal, only as its IPv4
// address (the STUN client's source check, the relay's STUN answer, its per-address limits).
import { isIP } from 'node:net';

/** The IPv4 address inside an IPv4-mapped IPv6 one; any other address as it is. */
export function unmapIPv4(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : address;
}
