// One attempt at a direct, mutually authenticated QUIC path between the two parties of a call,
// bounded in time (3 s by default), while the call carries on over the relay.
//
// The hard part is Linux-style NAT (FINDINGS.md): if a packet from the peer reaches our router
// before our own first packet towards the peer has gone out through it, conntrack records a flow
// to the router itself and our packets to that peer then leave from another port, so the address
// the peer was told is dead for 30 s. Hence the order of events here:
//  1. Both sides gather candidates (host addresses; the server-reflexive address from STUN sent
//     from the one QUIC socket) and trickle them through the relay.
//  2. Both learn the depth of their OWN NAT (nat-depth.ts: the smallest IP TTL whose packet
//     opens our NAT towards a new remote port, tested against the relay's alternate STUN port).
//     Nothing is taken from the path to the relay: it may be 2 hops away or 20.
//  3. The RESPONDER opens its own NAT towards each of the dialer's addresses with punch packets
//     of exactly that TTL: they pass its NAT layer(s) and die at the first router beyond, so
//     they cannot reach the dialer's NAT (unless the two NATs share one segment, where nothing
//     can: see docs/ARCHITECTURE.md). Then it tells the dialer "ready".
//  4. Only then does the DIALER (the lower fingerprint) dial the responder's candidates, paced,
//     highest priority first. Its packets find the responder's NAT already open; its own NAT is
//     opened by those same outgoing packets, and the responder's replies follow them back.
// The first handshake whose certificate carries the called identity wins; a certificate for any
// other identity aborts the direct attempt as a possible interception.
import type dgram from 'node:dgram';
import type { Candidate, CallSignal } from '../../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import { TypedEmitter } from '../base/typed-emitter.ts';
import type { QuicEndpoint } from '../transport/endpoint.ts';
import { PeerIdentityMismatchError, type Address } from '../transport/errors.ts';
import type { PeerConnection } from '../transport/peer-connection.ts';
import {
  hostCandidates,
  isLoopbackOrLinkLocal,
  mappedCandidate,
  orderForDialing,
  serverReflexiveCandidate,
} from './candidates.ts';
import { probePunchTtl } from './nat-depth.ts';
import { StunClient } from './stun-client.ts';
import { isStunPacket } from './stun-message.ts';

export const DIRECT_BUDGET_MS = 3000;
const DIAL_STAGGER_MS = 50;
const PUNCH_PACKETS = 3;
const PUNCH_SPACING_MS = 15;
/** When our NAT's depth cannot be learned: one NAT layer, the common home. */
const DEFAULT_PUNCH_TTL = 2;
/** A punch packet: first byte 0x30 is neither STUN (0-3), relay media (0x18-0x1B) nor QUIC (0x40+). */
const PUNCH = Uint8Array.from([0x30, 0x77, 0x7a, 0x70]);

export type DirectConnection = PeerConnection<unknown, unknown>;

export type DirectResult =
  | {
      ok: true;
      connection: DirectConnection;
      remote: Address;
      candidateType: Candidate['type'];
      elapsedMs: number;
      sinceFirstCandidateMs: number;
    }
  | { ok: false; reason: string; interception: boolean; elapsedMs: number };

export interface DirectAttemptOptions {
  endpoint: QuicEndpoint<unknown, unknown>;
  peer: Fingerprint;
  role: 'dialer' | 'responder';
  /** The STUN server to learn our server-reflexive address from (the relay's, unless configured). */
  stun: Address | null;
  /** Offer loopback/link-local host candidates (both ends on one machine). */
  includeLocal: boolean;
  signal: (s: CallSignal) => Promise<void>;
  /** The router's port mapping for our socket, if any (may resolve late, or to null). */
  portMapping?: () => Promise<{ ip: string; port: number } | null>;
  budgetMs?: number;
  now?: () => number;
}

export type DirectAttemptEvents = { done: [DirectResult] };

export class DirectAttempt extends TypedEmitter<DirectAttemptEvents> {
  readonly role: 'dialer' | 'responder';
  readonly #o: DirectAttemptOptions;
  readonly #now: () => number;
  readonly #startedAt: number;
  #firstCandidateAt: number | null = null;
  #remote: Candidate[] = [];
  #remoteComplete = false;
  #peerReady = false;
  #punchTtl: number | null = null;
  #punchTtlSource: 'nat depth' | 'default' = 'default';
  #punched = new Set<string>();
  #dialed = new Set<string>();
  #dialQueue: Candidate[] = [];
  #dialTimer: NodeJS.Timeout | null = null;
  #budgetTimer: NodeJS.Timeout | null = null;
  #abort = new AbortController();
  #result: DirectResult | null = null;
  #readySent = false;
  #gathered = false;
  #localSrflx: Candidate | null = null;
  #stunClients: StunClient[] = [];
  #unlisten: (() => void) | null = null;
  #dialFailures: string[] = [];

  constructor(opts: DirectAttemptOptions) {
    super();
    this.#o = opts;
    this.role = opts.role;
    this.#now = opts.now ?? (() => performance.now());
    this.#startedAt = this.#now();
  }

  get result(): DirectResult | null {
    return this.#result;
  }

  start(): void {
    this.#budgetTimer = setTimeout(() => this.#timeout(), this.#o.budgetMs ?? DIRECT_BUDGET_MS);
    this.#budgetTimer.unref();
    this.#unlisten = this.#o.endpoint.onNonQuic((data, rinfo) => this.#onNonQuic(data, rinfo));
    void this.#gather();
  }

  /** ice-candidate and direct signals from the peer for this call. */
  onSignal(signal: CallSignal): void {
    if (this.#result) return;
    if (signal.kind === 'ice-candidate') {
      if (signal.candidate === null) {
        this.#remoteComplete = true;
      } else {
        this.#firstCandidateAt ??= this.#now();
        this.#remote.push(signal.candidate);
        if (this.role === 'responder') void this.#punch(signal.candidate);
        if (this.role === 'dialer' && this.#peerReady) this.#queueDials();
        // A router's port mapping is an explicit forward, not a conntrack entry an early packet
        // could spoil: it is dialed at once, without waiting for the peer to punch.
        else if (this.role === 'dialer' && signal.candidate.type === 'mapped')
          this.#queueDials((c) => c.type === 'mapped');
      }
      if (this.role === 'responder') void this.#maybeReady();
      return;
    }
    if (signal.kind === 'direct') {
      if (signal.phase === 'abandon') {
        this.#finish({ ok: false, reason: `peer gave up: ${signal.reason}`, interception: false });
      } else if (this.role === 'dialer') {
        this.#peerReady = true;
        this.#queueDials();
      }
    }
  }

  /** The responder's endpoint accepted an authenticated connection from the peer. */
  acceptConnection(conn: DirectConnection): boolean {
    if (this.#result || conn.peer.fingerprint !== this.#o.peer) return false;
    const remote = conn.remote;
    const match = this.#remote.find((c) => c.ip === remote.host && c.port === remote.port);
    this.#succeed(conn, remote, match?.type ?? 'prflx');
    return true;
  }

  /** Give up now (call ended, direct calls turned off). */
  abort(reason: string): void {
    if (this.#result) return;
    void this.#o.signal({ kind: 'direct', phase: 'abandon', reason }).catch(() => undefined);
    this.#finish({ ok: false, reason, interception: false });
  }

  async #gather(): Promise<void> {
    const ep = this.#o.endpoint;
    const port = ep.address.port;
    // A relay on loopback means both ends are on this machine: offer loopback only, so that
    // a local setup never sends anything onto a real network.
    const hosts = hostCandidates({ port, family: 4, includeLocal: this.#o.includeLocal }).filter(
      (c) => !this.#o.includeLocal || isLoopbackOrLinkLocal(c.ip),
    );
    for (const c of hosts) await this.#sendCandidate(c);
    // The router's mapping, when it comes: at once if known, else trickled late (even after the
    // end of candidates: a dialer dials whatever arrives while the attempt runs), so a router
    // still being asked never holds up the rest.
    if (!this.#o.includeLocal && this.#o.portMapping) {
      void this.#o
        .portMapping()
        .catch(() => null)
        .then((m) => (m ? this.#sendCandidate(mappedCandidate(m.ip, m.port)) : undefined));
    }
    const stun = this.#o.stun;
    if (stun) {
      // Learned beside the STUN binding, not after it: both take about one round trip.
      const depth = this.#o.includeLocal
        ? Promise.resolve(null)
        : probePunchTtl({ stun }).catch(() => null);
      try {
        const client = this.#stunClient(null);
        const mapped = await client.bind(stun, {
          deadlineMs: 1000,
          rtoMs: 100,
          maxTransmissions: 5,
        });
        const srflx = serverReflexiveCandidate(mapped.address, mapped.port);
        this.#localSrflx = srflx;
        if (!this.#o.includeLocal) await this.#sendCandidate(srflx);
      } catch {
        // No STUN answer: host candidates may still do (same LAN), and the relay remains.
      }
      const ttl = await depth;
      this.#punchTtlSource = ttl === null ? 'default' : 'nat depth';
      this.#punchTtl = ttl ?? DEFAULT_PUNCH_TTL;
    }
    await this.#o.signal({ kind: 'ice-candidate', candidate: null }).catch(() => undefined);
    this.#gathered = true;
    if (this.role === 'responder') await this.#maybeReady();
  }

  async #sendCandidate(c: Candidate): Promise<void> {
    if (this.#result) return;
    this.#firstCandidateAt ??= this.#now();
    await this.#o.signal({ kind: 'ice-candidate', candidate: c }).catch(() => undefined);
  }

  #stunClient(ttl: number | null): StunClient {
    const ep = this.#o.endpoint;
    const client = new StunClient({
      send: (buf, port, host) => {
        if (ttl === null) void ep.sendRaw(buf, port, host).catch(() => undefined);
        else void ep.sendRawWithTtl([{ data: buf, port, host }], ttl);
      },
    });
    this.#stunClients.push(client);
    return client;
  }

  #onNonQuic(data: Buffer, rinfo: dgram.RemoteInfo): void {
    if (!isStunPacket(data)) return;
    for (const c of this.#stunClients) if (c.handle(data, rinfo)) return;
  }

  async #punch(c: Candidate): Promise<void> {
    // Only addresses behind someone's NAT need our NAT opened towards them; we also wait for the
    // hop count, since a punch that travels too far is exactly the packet that does the damage.
    if (this.#punchTtl === null || this.#result) return;
    if (c.type === 'host' && !this.#o.includeLocal) return;
    const key = `${c.ip}|${c.port}`;
    if (this.#punched.has(key)) return;
    this.#punched.add(key);
    for (let i = 0; i < PUNCH_PACKETS && !this.#result; i++) {
      await this.#o.endpoint.sendRawWithTtl(
        [{ data: PUNCH, port: c.port, host: c.ip }],
        this.#punchTtl,
      );
      await sleep(PUNCH_SPACING_MS);
    }
  }

  async #maybeReady(): Promise<void> {
    // Ready means: we know all the dialer's addresses and have punched towards each of them.
    if (this.#readySent || this.#result || !this.#remoteComplete || !this.#gathered) return;
    for (const c of this.#remote) if (!this.#punched.has(`${c.ip}|${c.port}`)) await this.#punch(c);
    if (this.#readySent || this.#result) return;
    this.#readySent = true;
    await this.#o
      .signal({
        kind: 'direct',
        phase: 'ready',
        reason: `punched with ttl ${this.#punchTtl ?? '-'} (${this.#punchTtlSource})`,
      })
      .catch(() => undefined);
  }

  #queueDials(only: (c: Candidate) => boolean = () => true): void {
    for (const c of orderForDialing(this.#remote).filter(only)) {
      const key = `${c.ip}|${c.port}`;
      if (this.#dialed.has(key) || this.#dialQueue.some((q) => `${q.ip}|${q.port}` === key))
        continue;
      if (c.type === 'relay') continue;
      this.#dialQueue.push(c);
    }
    this.#dialQueue.sort((a, b) => b.priority - a.priority);
    if (!this.#dialTimer) this.#dialNext();
  }

  #dialNext(): void {
    this.#dialTimer = null;
    if (this.#result) return;
    const c = this.#dialQueue.shift();
    if (!c) return;
    this.#dialed.add(`${c.ip}|${c.port}`);
    void this.#dial(c);
    this.#dialTimer = setTimeout(() => this.#dialNext(), DIAL_STAGGER_MS);
    this.#dialTimer.unref();
  }

  async #dial(c: Candidate): Promise<void> {
    const remaining = (this.#o.budgetMs ?? DIRECT_BUDGET_MS) - (this.#now() - this.#startedAt);
    if (remaining <= 50) return;
    try {
      const conn = await this.#o.endpoint.dial<unknown, unknown>({
        host: c.ip,
        port: c.port,
        expect: { fingerprint: this.#o.peer },
        parseSignal: () => null,
        timeoutMs: remaining,
        signal: this.#abort.signal,
        pingIntervalMs: 200,
      });
      if (this.#result) {
        await conn.close('another path won');
        return;
      }
      this.#succeed(conn, { host: c.ip, port: c.port }, c.type);
    } catch (e) {
      if (e instanceof PeerIdentityMismatchError) {
        void this.#o
          .signal({ kind: 'direct', phase: 'abandon', reason: 'possible interception' })
          .catch(() => undefined);
        this.#finish({
          ok: false,
          reason: `possible interception: ${e.message}`,
          interception: true,
        });
        return;
      }
      this.#dialFailures.push(
        `${c.type} ${c.ip}:${c.port}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  #succeed(connection: DirectConnection, remote: Address, candidateType: Candidate['type']): void {
    const now = this.#now();
    this.#finishWith({
      ok: true,
      connection,
      remote,
      candidateType,
      elapsedMs: now - this.#startedAt,
      sinceFirstCandidateMs: now - (this.#firstCandidateAt ?? this.#startedAt),
    });
  }

  #timeout(): void {
    if (this.#result) return;
    const budget = this.#o.budgetMs ?? DIRECT_BUDGET_MS;
    let reason = `no direct path within ${budget} ms`;
    if (this.#remote.length === 0) reason += ': the peer sent no candidates';
    else if (this.role === 'dialer' && !this.#peerReady)
      reason += ': the peer never opened its side';
    const srflx = this.#localSrflx;
    if (srflx && srflx.port !== this.#o.endpoint.address.port) {
      reason += '; our NAT changes ports (endpoint-dependent mapping likely)';
    }
    if (this.#dialFailures.length > 0) reason += `; ${this.#dialFailures.length} dial(s) failed`;
    void this.#o
      .signal({ kind: 'direct', phase: 'abandon', reason: 'timeout' })
      .catch(() => undefined);
    this.#finish({ ok: false, reason, interception: false });
  }

  #finish(r: { ok: false; reason: string; interception: boolean }): void {
    this.#finishWith({ ...r, elapsedMs: this.#now() - this.#startedAt });
  }

  #finishWith(result: DirectResult): void {
    if (this.#result) return;
    this.#result = result;
    this.#abort.abort();
    if (this.#budgetTimer) clearTimeout(this.#budgetTimer);
    if (this.#dialTimer) clearTimeout(this.#dialTimer);
    this.#unlisten?.();
    for (const c of this.#stunClients) c.close();
    this.emit('done', result);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
