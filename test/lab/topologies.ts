// Named NAT-lab scenarios as plain data (DESIGN.md "The NAT lab"): which sides hang off the
// "public internet" namespace, how many NAT layers each side has and how each layer behaves.
// netns-lab.ts turns a spec into namespaces; addresses follow from the spec's shape (see the
// header of netns-lab.ts), so a scenario never names an address itself.
import { isIP } from 'node:net';

/** One NAT router layer. */
export interface NatLayer {
  /**
   * 'endpoint-independent': plain `MASQUERADE` (one mapping per local socket, the common home
   * router; Linux still filters by address and port). 'endpoint-dependent': `MASQUERADE
   * --random-fully` (a fresh random port per destination, "symmetric").
   */
  mapping: 'endpoint-independent' | 'endpoint-dependent';
  /**
   * Home-router firewall: anything arriving on the WAN that conntrack does not know as
   * ESTABLISHED/RELATED is dropped, both to the router itself (INPUT) and through it (FORWARD).
   * Dropping in INPUT is what matters for hole punching: the peer's early packet then leaves no
   * conntrack entry behind that would make MASQUERADE remap our own first packet (FINDINGS.md).
   */
  wanFirewall: boolean;
  /** When set, UDP crossing the WAN is dropped unless the remote address is one of these. */
  udpOnlyTo?: readonly string[];
}

/**
 * One attachment to the public namespace. `nat` lists router layers from the outermost (whose
 * WAN faces the public namespace) inwards; an empty list puts the side's client directly on a
 * public address. `clients` > 1 puts several clients on one LAN behind the innermost layer.
 */
export interface SideSpec {
  nat: readonly NatLayer[];
  clients: number;
  /**
   * Plain routers (an ISP's, no NAT, no filter) between the public core and this side's
   * outermost router or public client: the routed internet between a home and the core.
   */
  transit?: number;
}

export interface TopologySpec {
  name: string;
  description: string;
  sides: readonly SideSpec[];
  /**
   * Plain routers between the public core and the relay host (a relay in a datacenter across a
   * backbone). 0 or absent: the relay sits in the core itself, where the sides' paths meet.
   */
  relayHops?: number;
}

/** The relay/STUN host in the public namespace; `udp-blocked` lets UDP through only to it. */
export const RELAY_IP = '198.18.0.1';
/** A second public host address (a second STUN server, a stranger sending unsolicited UDP). */
export const ALT_PUBLIC_IP = '198.18.0.2';

const cone: NatLayer = { mapping: 'endpoint-independent', wanFirewall: false };
const coneFw: NatLayer = { mapping: 'endpoint-independent', wanFirewall: true };
const symmetric: NatLayer = { mapping: 'endpoint-dependent', wanFirewall: false };
const udpBlocked: NatLayer = {
  mapping: 'endpoint-independent',
  wanFirewall: true,
  udpOnlyTo: [RELAY_IP],
};

export const SCENARIOS = {
  'cone-cone': {
    name: 'cone-cone',
    description:
      'both clients behind plain MASQUERADE: the conntrack race case that libwebrtc fails',
    sides: [
      { nat: [cone], clients: 1 },
      { nat: [cone], clients: 1 },
    ],
  },
  'cone-cone-wanfw': {
    name: 'cone-cone-wanfw',
    description:
      'both behind MASQUERADE with a home-router firewall dropping unsolicited WAN input',
    sides: [
      { nat: [coneFw], clients: 1 },
      { nat: [coneFw], clients: 1 },
    ],
  },
  'symmetric-symmetric': {
    name: 'symmetric-symmetric',
    description: 'both behind MASQUERADE --random-fully (endpoint-dependent mapping): relay only',
    sides: [
      { nat: [symmetric], clients: 1 },
      { nat: [symmetric], clients: 1 },
    ],
  },
  'public-cone': {
    name: 'public-cone',
    description: 'client a on a public address, client b behind MASQUERADE',
    sides: [
      { nat: [], clients: 1 },
      { nat: [cone], clients: 1 },
    ],
  },
  'same-nat': {
    name: 'same-nat',
    description: 'both clients on one LAN behind one MASQUERADE router (no hairpinning)',
    sides: [{ nat: [cone], clients: 2 }],
  },
  'udp-blocked': {
    name: 'udp-blocked',
    description: 'both routers drop all UDP except to and from the relay host',
    sides: [
      { nat: [udpBlocked], clients: 1 },
      { nat: [udpBlocked], clients: 1 },
    ],
  },
  'double-cone': {
    name: 'double-cone',
    description: 'both clients behind two layers of MASQUERADE (e.g. carrier-grade NAT + home)',
    sides: [
      { nat: [cone, cone], clients: 1 },
      { nat: [cone, cone], clients: 1 },
    ],
  },
  // Routed internets (issue 11): the relay is not where the two paths meet, so no hop count to
  // the relay says anything about the distance to the peer's NAT.
  'routed-relay-far': {
    name: 'routed-relay-far',
    description:
      'home MASQUERADE routers behind 2 ISP routers each, the relay 6 hops off the core: farther than the peer',
    sides: [
      { nat: [cone], clients: 1, transit: 2 },
      { nat: [cone], clients: 1, transit: 2 },
    ],
    relayHops: 6,
  },
  'routed-asymmetric': {
    name: 'routed-asymmetric',
    description:
      'a near the core, b 4 ISP hops out, relay 1 hop off the core: nearer than the peer for a, farther for b',
    sides: [
      { nat: [cone], clients: 1, transit: 0 },
      { nat: [cone], clients: 1, transit: 4 },
    ],
    relayHops: 1,
  },
  'routed-backbone-wanfw': {
    name: 'routed-backbone-wanfw',
    description:
      'firewalled home routers, 1 ISP router each, the relay 15 hops away across a backbone',
    sides: [
      { nat: [coneFw], clients: 1, transit: 1 },
      { nat: [coneFw], clients: 1, transit: 1 },
    ],
    relayHops: 15,
  },
  'routed-double-nat': {
    name: 'routed-double-nat',
    description:
      'each home behind its own CGNAT (two MASQUERADE layers), 2 ISP routers each, relay 6 hops off',
    sides: [
      { nat: [cone, cone], clients: 1, transit: 2 },
      { nat: [cone, cone], clients: 1, transit: 2 },
    ],
    relayHops: 6,
  },
} as const satisfies Record<string, TopologySpec>;

export type ScenarioName = keyof typeof SCENARIOS;

export const SCENARIO_NAMES = Object.keys(SCENARIOS) as ScenarioName[];

export function isScenarioName(s: string): s is ScenarioName {
  return Object.hasOwn(SCENARIOS, s);
}

/** Rejects specs netns-lab cannot address (its address plan has room for these limits). */
export function validateTopology(spec: TopologySpec): void {
  if (!/^[a-z0-9-]{1,40}$/.test(spec.name)) throw new Error(`bad topology name "${spec.name}"`);
  if (spec.sides.length < 1 || spec.sides.length > 8) {
    throw new Error(`${spec.name}: 1 to 8 sides, got ${spec.sides.length}`);
  }
  let clients = 0;
  const relayHops = spec.relayHops ?? 0;
  if (!Number.isInteger(relayHops) || relayHops < 0 || relayHops > 20)
    throw new Error(`${spec.name}: relayHops 0 to 20`);
  spec.sides.forEach((side, i) => {
    const transit = side.transit ?? 0;
    if (!Number.isInteger(transit) || transit < 0 || transit > 8)
      throw new Error(`${spec.name}: side ${i + 1}: transit 0 to 8`);
    if (!Number.isInteger(side.clients) || side.clients < 1 || side.clients > 8) {
      throw new Error(`${spec.name}: side ${i + 1}: 1 to 8 clients`);
    }
    if (side.nat.length === 0 && side.clients !== 1) {
      throw new Error(`${spec.name}: side ${i + 1}: a public side holds exactly one client`);
    }
    if (side.nat.length > 4) throw new Error(`${spec.name}: side ${i + 1}: at most 4 NAT layers`);
    for (const layer of side.nat) {
      for (const host of layer.udpOnlyTo ?? []) {
        if (isIP(host) !== 4)
          throw new Error(`${spec.name}: udpOnlyTo: not an IPv4 address: ${host}`);
      }
    }
    clients += side.clients;
  });
  if (clients > 26) throw new Error(`${spec.name}: at most 26 clients`);
}
