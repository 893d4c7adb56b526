// Who may hold a connection to the relay. Registered clients count towards --max-clients;
// connections that have not registered yet (anyone can make up an identity and finish a TLS
// handshake) live in a separate, smaller pool, capped per source address, so that they can
// neither crowd out registered users nor be opened by the thousand from one host. Pure
// bookkeeping: the endpoint asks at accept time, the relay promotes on registration, and the
// endpoint releases when the connection ends.
import { isIP } from 'node:net';
import { unmapIPv4 } from '../engine/transport/ip-address.ts';
import type { ConnectionTicket } from '../engine/transport/peer-connection.ts';

export interface AdmissionLimits {
  maxClients: number;
  maxUnregistered: number;
  maxUnregisteredPerAddress: number;
}

export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  maxClients: 10_000,
  maxUnregistered: 1_000,
  maxUnregisteredPerAddress: 32,
};

export type AdmissionRefusal = 'unregistered-full' | 'address-full';

export class AdmissionTicket implements ConnectionTicket {
  #state: 'unregistered' | 'registered' | 'released' = 'unregistered';

  constructor(
    readonly host: string,
    private readonly owner: Admission,
  ) {}

  get state(): 'unregistered' | 'registered' | 'released' {
    return this.#state;
  }

  /**
   * Move this connection into the registered pool. False (and nothing changes) when the relay
   * already holds --max-clients registered clients, unless this registration replaces another
   * of the same identity, which is about to leave.
   */
  register(replacing: boolean): boolean {
    if (this.#state !== 'unregistered') return this.#state === 'registered';
    if (!this.owner.promote(this, replacing)) return false;
    this.#state = 'registered';
    return true;
  }

  release(): void {
    if (this.#state === 'released') return;
    this.owner.forget(this, this.#state);
    this.#state = 'released';
  }
}

export class Admission {
  readonly limits: AdmissionLimits;
  readonly refused: Record<AdmissionRefusal, number> = {
    'unregistered-full': 0,
    'address-full': 0,
  };
  #registered = 0;
  #unregistered = 0;
  readonly #unregisteredByHost = new Map<string, number>();

  constructor(limits: Partial<AdmissionLimits> = {}) {
    this.limits = { ...DEFAULT_ADMISSION_LIMITS, ...limits };
    for (const [k, v] of Object.entries(this.limits)) {
      if (!(Number.isInteger(v) && v > 0)) throw new RangeError(`admission: ${k} must be > 0`);
    }
  }

  /** A connection from `host` that has not registered: its ticket, or null when refused. */
  admit(host: string): AdmissionTicket | null {
    const fromHost = this.#unregisteredByHost.get(host) ?? 0;
    if (this.#unregistered >= this.limits.maxUnregistered) {
      this.refused['unregistered-full']++;
      return null;
    }
    if (fromHost >= this.limits.maxUnregisteredPerAddress) {
      this.refused['address-full']++;
      return null;
    }
    this.#unregistered++;
    this.#unregisteredByHost.set(host, fromHost + 1);
    return new AdmissionTicket(host, this);
  }

  counts(): { registered: number; unregistered: number; addresses: number } {
    return {
      registered: this.#registered,
      unregistered: this.#unregistered,
      addresses: this.#unregisteredByHost.size,
    };
  }

  /** @internal (AdmissionTicket) */
  promote(ticket: AdmissionTicket, replacing: boolean): boolean {
    if (!replacing && this.#registered >= this.limits.maxClients) return false;
    this.#dropUnregistered(ticket.host);
    this.#registered++;
    return true;
  }

  /** @internal (AdmissionTicket) */
  forget(ticket: AdmissionTicket, state: 'unregistered' | 'registered'): void {
    if (state === 'registered') this.#registered--;
    else this.#dropUnregistered(ticket.host);
  }

  #dropUnregistered(host: string): void {
    this.#unregistered--;
    const n = (this.#unregisteredByHost.get(host) ?? 1) - 1;
    if (n <= 0) this.#unregisteredByHost.delete(host);
    else this.#unregisteredByHost.set(host, n);
  }
}

/**
 * The source an address limit applies to: an IPv4 address (also when it reaches a dual-stack
 * socket as ::ffff:a.b.c.d), or the /64 of an IPv6 address, which one host holds whole.
 */
export function addressKey(host: string): string {
  const lower = unmapIPv4(host).toLowerCase();
  if (isIP(lower) !== 6) return lower;
  const [head = '', tail = ''] = lower.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = lower.includes('::')
    ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
