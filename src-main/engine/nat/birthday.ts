// The pure part of birthday-paradox probing between an endpoint-dependent ("hard") NAT and an
// endpoint-independent ("easy") one, after Tailscale's design: which kind of NAT we are behind,
// learned from what two STUN server addresses saw; the bounded plan each side follows; and the
// odds that plan gives. No I/O here: the direct attempt sends, this decides what and how much.
//
// The hard side opens `hardPorts` fresh mappings towards the easy side's public address (one
// fresh local socket each: an endpoint-dependent NAT gives each a new random public port); the
// easy side sends probes to the hard side's public IP at random distinct ports. A probe that
// lands on one of the open mappings passes the hard NAT, and the easy NAT, having sent to that
// port, lets the answer in. With k mappings among N possible ports, n probes hit with
// probability 1 - C(N-k, n) / C(N, n) (about 1 - e^(-nk/N)): 256 and 1,024 give about 98 %.
import type { Address } from '../transport/errors.ts';

export type NatMapping = 'endpoint-independent' | 'endpoint-dependent' | 'unknown';

export interface StunObservation {
  /** The STUN server address that answered. */
  server: Address;
  /** The public address it saw our socket as. */
  mapped: Address;
}

/**
 * Endpoint-independent when two different server addresses (another IP, or another port on the
 * same IP) saw the same public address and port; endpoint-dependent when they saw different
 * ones; unknown with fewer than two distinct servers.
 */
export function classifyMapping(observations: readonly StunObservation[]): NatMapping {
  const distinct = new Map<string, Address>();
  for (const o of observations) distinct.set(`${o.server.host}|${o.server.port}`, o.mapped);
  if (distinct.size < 2) return 'unknown';
  const seen = new Set([...distinct.values()].map((m) => `${m.host}|${m.port}`));
  return seen.size === 1 ? 'endpoint-independent' : 'endpoint-dependent';
}

export type BirthdayRole = 'hard' | 'easy';

/** Probing only pays between one hard and one easy side; two hard sides need port mapping. */
export function birthdayRole(local: NatMapping, peer: NatMapping): BirthdayRole | null {
  if (local === 'endpoint-dependent' && peer === 'endpoint-independent') return 'hard';
  if (local === 'endpoint-independent' && peer === 'endpoint-dependent') return 'easy';
  return null;
}

export interface BirthdayBounds {
  /** Fresh mappings the hard side opens (sockets it binds). */
  hardPorts: number;
  /** Probes the easy side sends at most. */
  maxProbes: number;
  /** The easy side's send rate cap, packets per second. */
  probesPerSecond: number;
  /** Either side stops after this long, whatever happened. */
  maxMs: number;
  /** The port range a NAT assigns from (Linux: 1024-65535). */
  minPort: number;
  maxPort: number;
}

export const DEFAULT_BIRTHDAY_BOUNDS: BirthdayBounds = {
  hardPorts: 256,
  maxProbes: 1024,
  probesPerSecond: 400,
  maxMs: 4000,
  minPort: 1024,
  maxPort: 65535,
};

/** The probability that `probes` distinct random ports hit one of `open` among `range`. */
export function hitProbability(open: number, probes: number, range: number): number {
  if (open <= 0 || probes <= 0 || range <= 0) return 0;
  if (open + probes > range) return 1;
  // 1 - prod_{i<probes} (range - open - i) / (range - i), in logs for stability.
  let logMiss = 0;
  for (let i = 0; i < probes; i++) logMiss += Math.log((range - open - i) / (range - i));
  return 1 - Math.exp(logMiss);
}

/**
 * The easy side's probe ports: distinct, uniformly random in the NAT's range, never one of
 * `exclude` (addresses already tried as ordinary candidates), at most `bounds.maxProbes`.
 */
export function probePorts(
  bounds: BirthdayBounds,
  random: () => number = Math.random,
  exclude: ReadonlySet<number> = new Set(),
): number[] {
  const span = bounds.maxPort - bounds.minPort + 1;
  const want = Math.min(bounds.maxProbes, span - exclude.size);
  const picked = new Set<number>();
  const out: number[] = [];
  while (out.length < want) {
    const p = bounds.minPort + Math.min(span - 1, Math.floor(random() * span));
    if (picked.has(p) || exclude.has(p)) continue;
    picked.add(p);
    out.push(p);
  }
  return out;
}

/** When the easy side sends probe `i` (ms after it starts), at the capped rate. */
export function probeSendAtMs(i: number, bounds: BirthdayBounds): number {
  return (i * 1000) / bounds.probesPerSecond;
}

/** How many probes fit in the time bound at the rate cap (the plan never exceeds either). */
export function probesWithinBounds(bounds: BirthdayBounds): number {
  return Math.min(bounds.maxProbes, Math.floor((bounds.maxMs * bounds.probesPerSecond) / 1000));
}
