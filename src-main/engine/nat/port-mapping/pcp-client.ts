// Asks the default gateway for a UDP mapping with PCP (RFC 6887) and, when the gateway speaks
// only the older NAT-PMP (RFC 6886), with that: both on the gateway's port 5351, from one socket
// connected to it (so only its answers arrive, and an ICMP "port unreachable" from a router with
// no such service surfaces at once as a refusal instead of a wait). Owns transactions,
// retransmission, response matching and the PCP nonce a renewal or deletion must repeat. The
// socket and timers are injected, so the protocol logic runs in unit tests against a fake router.
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  NAT_PMP_RESULT_NAMES,
  PCP_NONCE_LENGTH,
  PCP_RESULT_NAMES,
  PCP_RESULT_SUCCESS,
  decodeNatPmpResponse,
  decodePcpResponse,
  encodeNatPmpExternalAddressRequest,
  encodeNatPmpMapUdpRequest,
  encodePcpMapRequest,
  type NatPmpResponse,
  type PcpResponse,
} from './pcp-codec.ts';

/** One UDP socket connected to gateway:5351. */
export interface GatewayTransport {
  /** Our source address towards the gateway (PCP must name it in the request). */
  readonly localAddress: string;
  send(data: Uint8Array): void;
  onMessage(listener: (data: Uint8Array) => void): void;
  /** The gateway is unreachable on that port (ICMP port unreachable, a send error). */
  onError(listener: (err: Error) => void): void;
  close(): void;
}

export interface ClientTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type PortMappingErrorKind = 'timeout' | 'refused' | 'rejected' | 'unsupported' | 'closed';

export class PortMappingError extends Error {
  override readonly name = 'PortMappingError';
  constructor(
    readonly kind: PortMappingErrorKind,
    message: string,
    readonly resultCode?: number,
  ) {
    super(message);
  }
}

export interface GatewayMapping {
  protocol: 'pcp' | 'nat-pmp';
  externalIp: string;
  externalPort: number;
  internalPort: number;
  lifetimeS: number;
  /** PCP only: a renewal or deletion must carry the same nonce (RFC 6887 §11.1). */
  nonce?: Uint8Array;
}

export interface PcpClientOptions {
  transport: GatewayTransport;
  timers?: ClientTimers;
  now?: () => number;
  randomBytes?: (n: number) => Uint8Array;
  /** First retransmission timeout; doubles after each (RFC 6886 §3.1 starts at 250 ms). */
  rtoMs?: number;
  /** Give up on one transaction after this long. */
  transactionMs?: number;
}

const defaultTimers: ClientTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

interface Pending {
  match: (data: Uint8Array) => boolean;
  fail: (e: PortMappingError) => void;
}

export class PcpClient {
  readonly #t: GatewayTransport;
  readonly #timers: ClientTimers;
  readonly #now: () => number;
  readonly #random: (n: number) => Uint8Array;
  readonly #rtoMs: number;
  readonly #transactionMs: number;
  readonly #pending = new Set<Pending>();
  #refused: Error | null = null;
  #closed = false;
  /** Learned on the first answer: the gateway speaks only NAT-PMP. */
  #pmpOnly = false;
  /** Datagrams that matched no transaction (late retransmission answers, garbage). */
  unmatched = 0;

  constructor(opts: PcpClientOptions) {
    this.#t = opts.transport;
    this.#timers = opts.timers ?? defaultTimers;
    this.#now = opts.now ?? (() => performance.now());
    this.#random = opts.randomBytes ?? ((n) => nodeRandomBytes(n));
    this.#rtoMs = opts.rtoMs ?? 250;
    this.#transactionMs = opts.transactionMs ?? 700;
    this.#t.onMessage((d) => {
      for (const p of this.#pending) if (p.match(d)) return;
      this.unmatched++;
    });
    this.#t.onError((e) => {
      this.#refused = e;
      for (const p of [...this.#pending])
        p.fail(new PortMappingError('refused', `the gateway refused: ${e.message}`));
    });
  }

  /**
   * Map UDP `internalPort`, asking for the same external port. PCP first; NAT-PMP when the
   * gateway answers PCP with "unsupported version". Rejects with a PortMappingError.
   */
  async map(internalPort: number, lifetimeS: number): Promise<GatewayMapping> {
    if (!this.#pmpOnly) {
      try {
        return await this.#pcpMap(internalPort, internalPort, lifetimeS, this.#nonce());
      } catch (e) {
        if (!(e instanceof PortMappingError) || e.kind !== 'unsupported') throw e;
        this.#pmpOnly = true;
      }
    }
    return this.#pmpMap(internalPort, internalPort, lifetimeS);
  }

  /** Renew (same nonce, same external port asked for). */
  renew(m: GatewayMapping, lifetimeS: number): Promise<GatewayMapping> {
    if (m.protocol === 'pcp')
      return this.#pcpMap(m.internalPort, m.externalPort, lifetimeS, m.nonce ?? this.#nonce());
    return this.#pmpMap(m.internalPort, m.externalPort, lifetimeS);
  }

  /** Delete the mapping (lifetime 0). */
  async remove(m: GatewayMapping): Promise<void> {
    if (m.protocol === 'pcp') await this.#pcpMap(m.internalPort, 0, 0, m.nonce ?? this.#nonce());
    else await this.#pmpMap(m.internalPort, 0, 0);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of [...this.#pending]) p.fail(new PortMappingError('closed', 'client closed'));
    this.#t.close();
  }

  #nonce(): Uint8Array {
    const n = this.#random(PCP_NONCE_LENGTH);
    if (n.length !== PCP_NONCE_LENGTH) throw new RangeError('randomBytes gave the wrong size');
    return Uint8Array.from(n);
  }

  async #pcpMap(
    internalPort: number,
    suggestedExternalPort: number,
    lifetimeS: number,
    nonce: Uint8Array,
  ): Promise<GatewayMapping> {
    const request = encodePcpMapRequest({
      clientIp: this.#t.localAddress,
      nonce,
      internalPort,
      suggestedExternalPort,
      suggestedExternalIp: null,
      lifetimeS,
    });
    const r = await this.#transact<PcpResponse>(request, 'PCP', (d) => {
      const m = decodePcpResponse(d);
      if (m === null) return undefined;
      if (m.kind === 'version-mismatch') return m;
      if (m.internalPort !== internalPort || !sameBytes(m.nonce, nonce)) return undefined;
      return m;
    });
    if (r.kind === 'version-mismatch') {
      throw new PortMappingError('unsupported', 'the gateway does not speak PCP', r.resultCode);
    }
    if (r.resultCode !== PCP_RESULT_SUCCESS) {
      const name = PCP_RESULT_NAMES[r.resultCode] ?? `result ${r.resultCode}`;
      throw new PortMappingError('rejected', `PCP: ${name}`, r.resultCode);
    }
    if (lifetimeS > 0 && (r.externalIp === null || r.externalPort === 0)) {
      throw new PortMappingError('rejected', 'PCP: success without an external IPv4 address');
    }
    return {
      protocol: 'pcp',
      externalIp: r.externalIp ?? '0.0.0.0',
      externalPort: r.externalPort,
      internalPort,
      lifetimeS: r.lifetimeS,
      nonce,
    };
  }

  async #pmpMap(
    internalPort: number,
    suggestedExternalPort: number,
    lifetimeS: number,
  ): Promise<GatewayMapping> {
    const pmp = (what: string, r: { resultCode: number }) => {
      if (r.resultCode === 0) return;
      const name = NAT_PMP_RESULT_NAMES[r.resultCode] ?? `result ${r.resultCode}`;
      throw new PortMappingError('rejected', `NAT-PMP ${what}: ${name}`, r.resultCode);
    };
    const mapped = await this.#transact<Extract<NatPmpResponse, { kind: 'map-udp' }>>(
      encodeNatPmpMapUdpRequest({ internalPort, suggestedExternalPort, lifetimeS }),
      'NAT-PMP',
      (d) => {
        const m = decodeNatPmpResponse(d);
        if (m?.kind !== 'map-udp') return undefined;
        // An error answer may carry zeros; a success names our port.
        return m.resultCode !== 0 || m.internalPort === internalPort ? m : undefined;
      },
    );
    pmp('map', mapped);
    if (lifetimeS === 0) {
      return {
        protocol: 'nat-pmp',
        externalIp: '0.0.0.0',
        externalPort: 0,
        internalPort,
        lifetimeS,
      };
    }
    const ext = await this.#transact<Extract<NatPmpResponse, { kind: 'external-address' }>>(
      encodeNatPmpExternalAddressRequest(),
      'NAT-PMP',
      (d) => {
        const m = decodeNatPmpResponse(d);
        return m?.kind === 'external-address' ? m : undefined;
      },
    );
    pmp('external address', ext);
    if (ext.externalIp === null || ext.externalIp === '0.0.0.0' || mapped.externalPort === 0) {
      throw new PortMappingError('rejected', 'NAT-PMP: the gateway has no external address');
    }
    return {
      protocol: 'nat-pmp',
      externalIp: ext.externalIp,
      externalPort: mapped.externalPort,
      internalPort,
      lifetimeS: mapped.lifetimeS,
    };
  }

  #transact<T>(
    request: Uint8Array,
    what: string,
    decode: (data: Uint8Array) => T | undefined,
  ): Promise<T> {
    if (this.#closed) return Promise.reject(new PortMappingError('closed', 'client closed'));
    if (this.#refused)
      return Promise.reject(
        new PortMappingError('refused', `the gateway refused: ${this.#refused.message}`),
      );
    return new Promise<T>((resolve, reject) => {
      let timer: unknown;
      let rto = this.#rtoMs;
      let sent = 0;
      const started = this.#now();
      const done = () => {
        this.#pending.delete(p);
        if (timer !== undefined) this.#timers.clearTimeout(timer);
      };
      const p: Pending = {
        match: (d) => {
          const r = decode(d);
          if (r === undefined) return false;
          done();
          resolve(r);
          return true;
        },
        fail: (e) => {
          done();
          reject(e);
        },
      };
      const transmit = () => {
        try {
          this.#t.send(request);
        } catch (e) {
          p.fail(new PortMappingError('refused', `sending to the gateway failed: ${String(e)}`));
          return;
        }
        sent++;
        const left = this.#transactionMs - (this.#now() - started);
        const wait = Math.min(rto, Math.max(0, left));
        rto *= 2;
        timer = this.#timers.setTimeout(() => {
          if (this.#now() - started >= this.#transactionMs - 1) {
            p.fail(new PortMappingError('timeout', `no ${what} answer after ${sent} requests`));
          } else {
            transmit();
          }
        }, wait);
      };
      this.#pending.add(p);
      transmit();
    });
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
