// One UDP port mapping on the home router for our one socket's port, for as long as the engine
// runs: found once at start (PCP, then NAT-PMP, at the same time as a UPnP-IGD search, all aimed
// at the default gateway only), renewed at half its lifetime, removed on close. Calls never wait
// for it: a direct attempt asks `current()` with a short cap and goes on without a mapping when
// the router is slow, silent or refuses (the call itself always starts on the relay).
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { TypedEmitter } from '../../base/typed-emitter.ts';
import { findDefaultGateway } from './default-gateway.ts';
import {
  PcpClient,
  PortMappingError,
  type GatewayMapping,
  type GatewayTransport,
} from './pcp-client.ts';
import { PORT_MAPPING_SERVER_PORT } from './pcp-codec.ts';
import { UpnpError, fetchIgdService, soapAction, ssdpSearch, type IgdService } from './upnp-igd.ts';

export type PortMappingProtocol = 'pcp' | 'nat-pmp' | 'upnp';

export interface MappedAddress {
  protocol: PortMappingProtocol;
  /** The public address and port peers can send to. */
  ip: string;
  port: number;
  internalPort: number;
  gateway: string;
  /** 0: a permanent UPnP lease (removed on close). */
  lifetimeS: number;
}

export type PortMapperEvents = {
  /** A mapping exists (first time, or after a renewal changed it). */
  mapped: [MappedAddress & { elapsedMs: number }];
  /** No mapping could be had (nothing answered, or the router refused); `reason` says which. */
  unavailable: [{ reason: string; gateway: string | null; elapsedMs: number }];
};

export interface PortMapperOptions {
  internalPort: number;
  /** Injected for tests; default: the platform's documented lookup. */
  findGateway?: () => Promise<string | null>;
  /** Injected for tests; default: a UDP socket connected to gateway:5351. */
  openTransport?: (gateway: string) => Promise<GatewayTransport>;
  /** Injected for tests (which must not multicast); default: an SSDP search. */
  searchUpnp?: (gateway: string, timeoutMs: number, signal: AbortSignal) => Promise<URL>;
  /** PCP / NAT-PMP give up after this long (a router that does not answer). */
  pcpBudgetMs?: number;
  /** The UPnP search gives up after this long (its answers may be delayed up to MX = 1 s). */
  upnpBudgetMs?: number;
  lifetimeS?: number;
  now?: () => number;
}

const DEFAULT_LIFETIME_S = 7200;
const UPNP_LEASE_S = 3600;
const HTTP_TIMEOUT_MS = 1500;
const RENEW_RETRY_MS = 5000;
const MIN_RENEW_MS = 10_000;
const CLOSE_BUDGET_MS = 500;

/** Private, shared (CGNAT), loopback, link-local: a mapping there is behind yet another NAT. */
export function isNonPublicIpv4(ip: string): boolean {
  if (isIP(ip) !== 4) return true;
  const [a = 0, b = 0] = ip.split('.').map(Number);
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    a >= 224
  );
}

export function udpGatewayTransport(
  gateway: string,
  port = PORT_MAPPING_SERVER_PORT,
): Promise<GatewayTransport> {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    const messages: ((d: Uint8Array) => void)[] = [];
    const errors: ((e: Error) => void)[] = [];
    sock.on('message', (d) => messages.forEach((l) => l(d)));
    sock.on('error', (e) => {
      if (!connected) reject(e);
      else errors.forEach((l) => l(e));
    });
    let connected = false;
    sock.connect(port, gateway, () => {
      connected = true;
      resolve({
        localAddress: sock.address().address,
        send: (d) => sock.send(d),
        onMessage: (l) => void messages.push(l),
        onError: (l) => void errors.push(l),
        close: () => {
          try {
            sock.close();
          } catch {
            // closed already
          }
        },
      });
    });
  });
}

type Active =
  | { kind: 'gateway'; mapping: GatewayMapping; client: PcpClient }
  | { kind: 'upnp'; svc: IgdService; internalClient: string; externalPort: number };

export class PortMapper extends TypedEmitter<PortMapperEvents> {
  readonly #o: PortMapperOptions;
  readonly #now: () => number;
  #state: 'idle' | 'probing' | 'mapped' | 'unavailable' | 'closed' = 'idle';
  #current: MappedAddress | null = null;
  #active: Active | null = null;
  #reason: string | null = null;
  #settled: Promise<void> = Promise.resolve();
  #renewTimer: NodeJS.Timeout | null = null;
  #abort = new AbortController();

  constructor(opts: PortMapperOptions) {
    super();
    this.#o = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  get state(): 'idle' | 'probing' | 'mapped' | 'unavailable' | 'closed' {
    return this.#state;
  }

  /** Why there is no mapping (after `unavailable`). */
  get reason(): string | null {
    return this.#reason;
  }

  #closed(): boolean {
    return this.#state === 'closed';
  }

  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'probing';
    this.#settled = this.#probe();
  }

  /** The mapping now, waiting at most `waitMs` if the first probe is still running. */
  async current(waitMs: number): Promise<MappedAddress | null> {
    if (this.#state === 'probing') {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#settled,
        new Promise<void>((r) => {
          timer = setTimeout(r, waitMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
    }
    return this.#state === 'mapped' ? this.#current : null;
  }

  /** Stop renewing and delete the mapping from the router (bounded in time). */
  async close(): Promise<void> {
    if (this.#closed()) return;
    this.#state = 'closed';
    this.#abort.abort();
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    const active = this.#active;
    this.#active = null;
    this.#current = null;
    await Promise.race([
      this.#remove(active).catch(() => undefined),
      new Promise((r) => setTimeout(r, CLOSE_BUDGET_MS).unref()),
    ]);
    if (active?.kind === 'gateway') active.client.close();
  }

  async #remove(active: Active | null): Promise<void> {
    if (active?.kind === 'gateway') await active.client.remove(active.mapping);
    else if (active?.kind === 'upnp')
      await soapAction(
        active.svc,
        'DeletePortMapping',
        [
          ['NewRemoteHost', ''],
          ['NewExternalPort', active.externalPort],
          ['NewProtocol', 'UDP'],
        ],
        CLOSE_BUDGET_MS,
      );
  }

  async #probe(): Promise<void> {
    const t0 = this.#now();
    const gateway = await (this.#o.findGateway ?? (() => findDefaultGateway()))();
    if (this.#closed()) return;
    if (gateway === null) return this.#unavailable('no default gateway', null, t0);
    const upnp = this.#o.upnpBudgetMs ?? 1300;
    // The UPnP search runs beside PCP/NAT-PMP (its answer can take up to a second); it is used
    // only when neither of those gives a mapping.
    const search = (this.#o.searchUpnp ?? ssdpSearch)(gateway, upnp, this.#abort.signal).then(
      (url) => ({ ok: true as const, url }),
      (e: unknown) => ({ ok: false as const, reason: describe(e) }),
    );
    let pcpReason: string;
    let client: PcpClient | null = null;
    try {
      const transport = await (this.#o.openTransport ?? udpGatewayTransport)(gateway);
      client = new PcpClient({ transport, transactionMs: this.#o.pcpBudgetMs ?? 700 });
      const m = await client.map(this.#o.internalPort, this.#o.lifetimeS ?? DEFAULT_LIFETIME_S);
      if (this.#closed()) {
        await client.remove(m).catch(() => undefined);
        client.close();
        return;
      }
      if (isNonPublicIpv4(m.externalIp)) {
        await client.remove(m).catch(() => undefined);
        throw new PortMappingError(
          'rejected',
          `the gateway's external address ${m.externalIp} is not public (another NAT beyond it)`,
        );
      }
      this.#abort.abort(); // the UPnP search is not needed
      this.#active = { kind: 'gateway', mapping: m, client };
      return this.#mapped(
        { protocol: m.protocol, ip: m.externalIp, port: m.externalPort, lifetimeS: m.lifetimeS },
        gateway,
        t0,
      );
    } catch (e) {
      client?.close();
      pcpReason = describe(e);
    }
    const found = await search;
    if (this.#closed()) return;
    if (!found.ok) return this.#unavailable(`${pcpReason}; ${found.reason}`, gateway, t0);
    try {
      const svc = await fetchIgdService(found.url, HTTP_TIMEOUT_MS);
      const internalClient = await localAddressTowards(gateway);
      const r = await this.#upnpMap(svc, internalClient, this.#o.internalPort);
      if (this.#closed()) {
        await this.#remove({ kind: 'upnp', svc, internalClient, externalPort: r.externalPort });
        return;
      }
      this.#active = { kind: 'upnp', svc, internalClient, externalPort: r.externalPort };
      return this.#mapped(
        { protocol: 'upnp', ip: r.externalIp, port: r.externalPort, lifetimeS: r.leaseS },
        gateway,
        t0,
      );
    } catch (e) {
      return this.#unavailable(`${pcpReason}; ${describe(e)}`, gateway, t0);
    }
  }

  async #upnpMap(
    svc: IgdService,
    internalClient: string,
    internalPort: number,
    preferredExternal = internalPort,
  ): Promise<{ externalIp: string; externalPort: number; leaseS: number }> {
    const ext = await soapAction(svc, 'GetExternalIPAddress', [], HTTP_TIMEOUT_MS);
    const externalIp = (ext.NewExternalIPAddress ?? '').trim();
    if (isNonPublicIpv4(externalIp))
      throw new UpnpError(
        `the gateway's external address ${externalIp || '(none)'} is not public (another NAT beyond it)`,
      );
    let leaseS = UPNP_LEASE_S;
    // Our own port first (a restart keeps its address); on a conflict, two random others.
    const ports = [preferredExternal, randomPort(), randomPort()];
    for (let i = 0; i < ports.length; i++) {
      const externalPort = ports[i] as number;
      try {
        await soapAction(
          svc,
          'AddPortMapping',
          [
            ['NewRemoteHost', ''],
            ['NewExternalPort', externalPort],
            ['NewProtocol', 'UDP'],
            ['NewInternalPort', internalPort],
            ['NewInternalClient', internalClient],
            ['NewEnabled', 1],
            ['NewPortMappingDescription', 'wz-phone'],
            ['NewLeaseDuration', leaseS],
          ],
          HTTP_TIMEOUT_MS,
        );
        return { externalIp, externalPort, leaseS };
      } catch (e) {
        if (e instanceof UpnpError && e.upnpCode === 725 && leaseS !== 0) {
          leaseS = 0; // OnlyPermanentLeasesSupported: permanent, deleted on close
          i--;
          continue;
        }
        if (!(e instanceof UpnpError) || e.upnpCode !== 718 || i === ports.length - 1) throw e;
      }
    }
    throw new UpnpError('no free external port');
  }

  #mapped(m: Omit<MappedAddress, 'gateway' | 'internalPort'>, gateway: string, t0: number): void {
    const before = this.#current;
    this.#current = { ...m, internalPort: this.#o.internalPort, gateway };
    this.#state = 'mapped';
    this.#reason = null;
    if (!before || before.ip !== m.ip || before.port !== m.port)
      this.emit('mapped', { ...this.#current, elapsedMs: Math.round(this.#now() - t0) });
    this.#scheduleRenew(m.lifetimeS > 0 ? (m.lifetimeS * 1000) / 2 : null);
  }

  #unavailable(reason: string, gateway: string | null, t0: number): void {
    if (this.#closed()) return;
    this.#state = 'unavailable';
    this.#current = null;
    this.#reason = reason;
    this.emit('unavailable', { reason, gateway, elapsedMs: Math.round(this.#now() - t0) });
  }

  #scheduleRenew(ms: number | null): void {
    if (this.#renewTimer) clearTimeout(this.#renewTimer);
    this.#renewTimer = null;
    if (ms === null || this.#state === 'closed') return;
    this.#renewTimer = setTimeout(() => void this.#renew(0), Math.max(MIN_RENEW_MS, ms));
    this.#renewTimer.unref();
  }

  async #renew(failures: number): Promise<void> {
    const active = this.#active;
    const cur = this.#current;
    if (!active || !cur || this.#state !== 'mapped') return;
    const t0 = this.#now();
    try {
      if (active.kind === 'gateway') {
        const m = await active.client.renew(
          active.mapping,
          this.#o.lifetimeS ?? DEFAULT_LIFETIME_S,
        );
        if (this.#state !== 'mapped') return;
        active.mapping = m;
        this.#mapped(
          { protocol: m.protocol, ip: m.externalIp, port: m.externalPort, lifetimeS: m.lifetimeS },
          cur.gateway,
          t0,
        );
      } else {
        const r = await this.#upnpMap(
          active.svc,
          active.internalClient,
          cur.internalPort,
          active.externalPort,
        );
        if (this.#state !== 'mapped') return;
        active.externalPort = r.externalPort;
        this.#mapped(
          { protocol: 'upnp', ip: r.externalIp, port: r.externalPort, lifetimeS: r.leaseS },
          cur.gateway,
          t0,
        );
      }
    } catch (e) {
      if (this.#state !== 'mapped') return;
      const left = cur.lifetimeS * 1000 - (failures + 1) * RENEW_RETRY_MS;
      if (failures < 3 && left > 0) {
        this.#renewTimer = setTimeout(() => void this.#renew(failures + 1), RENEW_RETRY_MS);
        this.#renewTimer.unref();
        return;
      }
      this.#active = null;
      if (active.kind === 'gateway') active.client.close();
      this.#unavailable(`renewing the mapping failed: ${describe(e)}`, cur.gateway, t0);
    }
  }
}

function randomPort(): number {
  return 1024 + Math.floor(Math.random() * (65536 - 1024));
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The local address the kernel picks towards `host` (a connected UDP socket sends nothing). */
function localAddressTowards(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.connect(PORT_MAPPING_SERVER_PORT, host, () => {
      const a = s.address().address;
      s.close();
      resolve(a);
    });
  });
}
