// Candidate addresses for a direct path, in the spirit of ICE (RFC 8445): host addresses of our
// interfaces, the server-reflexive address STUN saw, each with an RFC 8445 priority so both
// sides try the same pairs in the same order. Loopback and link-local addresses are offered only
// when the relay itself is local (both ends on one machine or in a lab on loopback).
import { networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import type { Candidate } from '../../../src-shared/call-signals.ts';

const TYPE_PREFERENCE: Record<Candidate['type'], number> = {
  host: 126,
  // A mapping the router promised (port mapping) holds towards every peer; a peer-reflexive or
  // server-reflexive address holds only where the NAT maps endpoint-independently.
  mapped: 115,
  prflx: 110,
  srflx: 100,
  relay: 0,
};

/** RFC 8445 §5.1.2.1 with one component: (2^24)·type + (2^8)·local + 255. */
export function candidatePriority(type: Candidate['type'], localPreference: number): number {
  return (
    TYPE_PREFERENCE[type] * 2 ** 24 + Math.max(0, Math.min(65535, localPreference)) * 2 ** 8 + 255
  );
}

export function isLoopbackOrLinkLocal(ip: string): boolean {
  if (isIP(ip) === 4) return ip.startsWith('127.') || ip.startsWith('169.254.');
  const lower = ip.toLowerCase();
  return lower === '::1' || lower.startsWith('fe80:');
}

export interface HostCandidateOptions {
  port: number;
  /** The address family our socket serves (an IPv4-bound socket cannot use IPv6 candidates). */
  family: 4 | 6 | 'both';
  includeLocal: boolean;
  /** Injected for tests. */
  interfaces?: ReturnType<typeof networkInterfaces>;
}

export function hostCandidates(opts: HostCandidateOptions): Candidate[] {
  const out: Candidate[] = [];
  const seen = new Set<string>();
  const ifaces = opts.interfaces ?? networkInterfaces();
  let rank = 0;
  for (const [name, addrs] of Object.entries(ifaces)) {
    for (const a of addrs ?? []) {
      const fam = a.family === 'IPv4' || (a.family as unknown) === 4 ? 4 : 6;
      if (opts.family !== 'both' && fam !== opts.family) continue;
      if (!opts.includeLocal && (a.internal || isLoopbackOrLinkLocal(a.address))) continue;
      if (fam === 6 && a.address.toLowerCase().startsWith('fe80:')) continue; // needs a scope id
      if (seen.has(a.address)) continue;
      seen.add(a.address);
      // IPv4 before IPv6 here (our sockets are IPv4 today), then interface order.
      const local = (fam === 4 ? 60000 : 30000) - rank++;
      out.push({
        type: 'host',
        ip: a.address,
        port: opts.port,
        priority: candidatePriority('host', local),
        foundation: `h-${name}`.slice(0, 32),
      });
    }
  }
  return out;
}

export function serverReflexiveCandidate(ip: string, port: number): Candidate {
  return {
    type: 'srflx',
    ip,
    port,
    priority: candidatePriority('srflx', 65535),
    foundation: 'srflx',
  };
}

/** The public address our router reserved for our socket on request (PCP, NAT-PMP, UPnP). */
export function mappedCandidate(ip: string, port: number): Candidate {
  return {
    type: 'mapped',
    ip,
    port,
    priority: candidatePriority('mapped', 65535),
    foundation: 'mapped',
  };
}

/** Same address and port: the same place, whatever the type says. */
export function sameAddress(a: Candidate, b: Candidate): boolean {
  return a.ip === b.ip && a.port === b.port;
}

/** The order in which to try remote candidates: highest priority first, duplicates removed. */
export function orderForDialing(remote: readonly Candidate[]): Candidate[] {
  const out: Candidate[] = [];
  for (const c of [...remote].sort((x, y) => y.priority - x.priority)) {
    if (!out.some((o) => sameAddress(o, c))) out.push(c);
  }
  return out;
}
