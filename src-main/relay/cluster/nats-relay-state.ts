// The NATS backend of RelayState: one relay of a cluster. What is local stays local (sessions,
// presence subscriptions, call records of calls with a party here: InMemoryRelayState); what the
// cluster must agree on goes over NATS: registrations (the replicated ClusterDirectory, kept by
// updates, snapshots and heartbeats) and call messages for a party on another relay, published
// on that party's subject (`wzp.to.<fingerprint>`), which only the relay holding it subscribes.
// When NATS is unreachable the relay goes on serving its own clients: peers time out, their
// registrations go offline, and everything resynchronises when the link is back.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import {
  InMemoryRelayState,
  type CallRecord,
  type ClientSession,
  type ClusterStatus,
  type InviteOutcome,
  type PartyLocation,
  type RelayState,
  type RelayStateHandlers,
  type RoutedCallMessage,
} from '../relay-state.ts';
import { ClusterDirectory, type DirectoryChange } from './cluster-directory.ts';
import {
  DirectoryUpdateSchema,
  HeartbeatSchema,
  HelloSchema,
  InviteReplySchema,
  RoutedSchema,
  SnapshotSchema,
  SUBJECTS,
  decodeClusterMessage,
  type DirectoryUpdate,
  type Heartbeat,
  type InviteReply,
  type Routed,
} from './cluster-protocol.ts';
import { NatsLink, natsConnectTarget } from './nats-link.ts';

export interface NatsRelayStateOptions {
  servers: string[];
  name: string;
  logger: Logger;
  heartbeatMs?: number;
  peerTimeoutMs?: number;
  inviteTimeoutMs?: number;
  now?: () => number;
  wallNow?: () => number;
}

const encoder = new TextEncoder();

export class NatsRelayState implements RelayState {
  readonly name: string;
  readonly instance = randomBytes(12).toString('base64url');
  readonly #o: NatsRelayStateOptions;
  readonly #log: Logger;
  readonly #local = new InMemoryRelayState({ announcesPresence: false });
  readonly #dir: ClusterDirectory;
  readonly #link: NatsLink;
  readonly #epochs = new WeakMap<ClientSession, number>();
  readonly #subjectOf = new Map<Fingerprint, () => void>();
  #handlers: RelayStateHandlers | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #seq = 0;
  #lastSnapshotMs = -Infinity;
  #media = '';
  #c = {
    routedOut: 0,
    routedIn: 0,
    routedDropped: 0,
    invitesRouted: 0,
    evictions: 0,
    malformed: 0,
    nameConflicts: 0,
  };
  #lastConflictLogMs = -Infinity;

  constructor(opts: NatsRelayStateOptions) {
    this.#o = opts;
    this.name = opts.name;
    this.#log = opts.logger.child({ cluster: opts.name });
    const now = opts.now ?? (() => performance.now());
    this.#dir = new ClusterDirectory({
      relay: opts.name,
      instance: this.instance,
      peerTimeoutMs: opts.peerTimeoutMs ?? 3000,
      now,
      wallNow: opts.wallNow ?? (() => Date.now()),
    });
    this.#link = new NatsLink({ servers: opts.servers, name: `wzp-relay ${opts.name}` });
  }

  start(handlers: RelayStateHandlers, relay: { media: string }): void {
    this.#handlers = handlers;
    this.#media = relay.media;
    this.#link.on('up', ({ server, first }) => {
      this.#log.info({ server, reconnect: !first }, 'cluster link up: calls across relays');
      // Whatever happened while we were away: tell everyone who we hold, and ask the same.
      this.#link.publish(SUBJECTS.hello, { relay: this.name, instance: this.instance });
      this.#sendHeartbeat();
      this.#sendSnapshot(true);
    });
    this.#link.on('down', ({ reason }) => {
      this.#log.warn(
        { reason, servers: natsConnectTarget(this.#o.servers).servers },
        'cluster link down: calls only between clients on this relay until NATS is back',
      );
    });
    this.#link.subscribe(SUBJECTS.heartbeat, (d) => {
      const hb = this.#decode(HeartbeatSchema, d);
      if (!hb) return;
      if (hb.relay === this.name && hb.instance !== this.instance) this.#nameConflict(hb.instance);
      this.#apply(this.#dir.heartbeat(hb));
    });
    this.#link.subscribe(SUBJECTS.hello, (d) => {
      const h = this.#decode(HelloSchema, d);
      if (!h || h.instance === this.instance) return;
      this.#sendSnapshot(true);
    });
    this.#link.subscribe(SUBJECTS.bye, (d) => {
      const h = this.#decode(HelloSchema, d);
      if (h) this.#apply(this.#dir.left(h.relay, h.instance));
    });
    this.#link.subscribe(SUBJECTS.directory, (d) => {
      const u = this.#decode(DirectoryUpdateSchema, d);
      if (u) this.#applyRemote(this.#dir.apply(u));
    });
    this.#link.subscribe(SUBJECTS.snapshot, (d) => {
      const s = this.#decode(SnapshotSchema, d);
      if (s) this.#applyRemote(this.#dir.applySnapshot(s));
    });
    // Expiry is checked twice per heartbeat so a silent peer goes within half a beat of its timeout.
    const beat = this.#o.heartbeatMs ?? 1000;
    let tick = 0;
    this.#heartbeat = setInterval(() => {
      if (tick++ % 2 === 0) this.#sendHeartbeat();
      this.#apply(this.#dir.expire());
    }, beat / 2);
    this.#heartbeat.unref();
    this.#log.info(
      { servers: natsConnectTarget(this.#o.servers).servers, instance: this.instance },
      'joining the cluster',
    );
    this.#link.start();
  }

  async close(): Promise<void> {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    this.#link.publish(SUBJECTS.bye, { relay: this.name, instance: this.instance });
    await this.#link.close();
  }

  register(session: ClientSession): ClientSession | undefined {
    const replaced = this.#local.register(session);
    const { update, changes } = this.#dir.registerLocal(session.fingerprint);
    this.#epochs.set(session, update.epoch);
    this.#listenFor(session.fingerprint);
    this.#link.publish(SUBJECTS.directory, update);
    this.#apply(changes);
    return replaced;
  }

  unregister(session: ClientSession): boolean {
    if (!this.#local.unregister(session)) return false;
    const epoch = this.#epochs.get(session);
    if (epoch !== undefined) {
      const { update, changes } = this.#dir.unregisterLocal(session.fingerprint, epoch);
      if (update) {
        this.#stopListening(session.fingerprint);
        this.#link.publish(SUBJECTS.directory, update);
      }
      this.#apply(changes);
    }
    return true;
  }

  sessionOf(fingerprint: Fingerprint): ClientSession | undefined {
    return this.#local.sessionOf(fingerprint);
  }

  locate(fingerprint: Fingerprint): PartyLocation | undefined {
    const local = this.#local.locate(fingerprint);
    if (local) return local;
    const h = this.#dir.holder(fingerprint);
    return h && !h.local ? { kind: 'remote', relay: h.relay } : undefined;
  }

  isOnline(fingerprint: Fingerprint): boolean {
    return this.locate(fingerprint) !== undefined;
  }

  route(message: RoutedCallMessage): void {
    const routed: Routed = { ...message, relay: this.name, instance: this.instance };
    if (this.#link.publish(SUBJECTS.to(message.to), routed)) this.#c.routedOut++;
    else this.#c.routedDropped++;
  }

  async routeInvite(message: RoutedCallMessage & { kind: 'signal' }): Promise<InviteOutcome> {
    this.#c.invitesRouted++;
    const routed: Routed = { ...message, relay: this.name, instance: this.instance };
    const r = await this.#link.request(
      SUBJECTS.to(message.to),
      routed,
      this.#o.inviteTimeoutMs ?? 2000,
    );
    if (r.kind !== 'reply') {
      this.#c.routedDropped++;
      this.#log.debug({ callId: message.callId, outcome: r.kind }, 'routed invite not answered');
      return { ok: false, reason: 'offline' };
    }
    this.#c.routedOut++;
    const reply = this.#decode(InviteReplySchema, r.data);
    return reply ?? { ok: false, reason: 'offline' };
  }

  setSubscriptions(subscriber: ClientSession, fingerprints: readonly Fingerprint[]): void {
    this.#local.setSubscriptions(subscriber, fingerprints);
  }

  dropSubscriptions(subscriber: ClientSession): void {
    this.#local.dropSubscriptions(subscriber);
  }

  watchersOf(fingerprint: Fingerprint): ClientSession[] {
    return this.#local.watchersOf(fingerprint);
  }

  createCall(call: CallRecord): boolean {
    return this.#local.createCall(call);
  }

  getCall(id: string): CallRecord | undefined {
    return this.#local.getCall(id);
  }

  endCall(id: string): CallRecord | undefined {
    return this.#local.endCall(id);
  }

  callsOf(fingerprint: Fingerprint): CallRecord[] {
    return this.#local.callsOf(fingerprint);
  }

  counts(): { registered: number; calls: number; subscriptions: number } {
    return this.#local.counts();
  }

  cluster(): ClusterStatus {
    const now = (this.#o.now ?? (() => performance.now()))();
    return {
      name: this.name,
      link: this.#link.up ? 'up' : 'down',
      peers: this.#dir.peers().map((p) => ({
        relay: p.relay,
        registered: p.registered,
        lastSeenMsAgo: Math.round(now - p.lastSeenMs),
      })),
      peersSeen: this.#dir.relaysSeen,
      directory: this.#dir.size,
      ...this.#c,
      linkDowns: this.#link.counters.linkDowns,
    };
  }

  /** Where the peer relay `relay` receives media, from its heartbeats; null if not heard yet. */
  mediaOf(relay: string): string | null {
    for (const p of this.#dir.peers()) if (p.relay === relay && p.media) return p.media;
    return null;
  }

  #listenFor(fp: Fingerprint): void {
    if (this.#subjectOf.has(fp)) return;
    this.#subjectOf.set(
      fp,
      this.#link.subscribe(SUBJECTS.to(fp), (d, reply) => this.#onRouted(fp, d, reply)),
    );
  }

  #stopListening(fp: Fingerprint): void {
    this.#subjectOf.get(fp)?.();
    this.#subjectOf.delete(fp);
  }

  #onRouted(fp: Fingerprint, data: Uint8Array, reply: ((d: Uint8Array) => void) | null): void {
    const m = this.#decode(RoutedSchema, data);
    if (!m || m.to !== fp) {
      if (m) this.#c.malformed++;
      return;
    }
    const handlers = this.#handlers;
    if (!handlers || m.instance === this.instance) return;
    this.#c.routedIn++;
    const { relay, instance: _instance, ...message } = m;
    if (message.kind === 'signal' && message.signal.kind === 'invite') {
      // Only the relay holding the callee answers: a relay that just lost it stays silent, so
      // the request goes to the one that has it (or times out as offline).
      if (!this.#local.sessionOf(fp)) return;
      const outcome: InviteReply = handlers.invite(message, relay);
      reply?.(encoder.encode(JSON.stringify(outcome)));
      return;
    }
    handlers.routed(message, relay);
  }

  /** Another live relay uses our name: logs and metrics would mix them up. Said every 30 s. */
  #nameConflict(other: string): void {
    this.#c.nameConflicts++;
    const now = performance.now();
    if (now - this.#lastConflictLogMs < 30_000) return;
    this.#lastConflictLogMs = now;
    this.#log.error(
      { other, instance: this.instance },
      `another relay in the cluster is named "${this.name}": give each relay its own --name`,
    );
  }

  #sendHeartbeat(): void {
    const hb: Heartbeat = {
      relay: this.name,
      instance: this.instance,
      seq: this.#seq++,
      media: this.#media,
      registered: this.#dir.localCount,
    };
    this.#link.publish(SUBJECTS.heartbeat, hb);
  }

  /** Our registrations for peers that may have missed updates; at most about once a second. */
  #sendSnapshot(force = false): void {
    const now = performance.now();
    if (!force && now - this.#lastSnapshotMs < 1000) return;
    this.#lastSnapshotMs = now;
    for (const part of this.#dir.snapshot()) this.#link.publish(SUBJECTS.snapshot, part);
  }

  /** A peer's news may outrank our own claims: withdraw them cluster-wide, then act. */
  #applyRemote(r: { changes: DirectoryChange[]; withdrawals: DirectoryUpdate[] }): void {
    for (const w of r.withdrawals) this.#link.publish(SUBJECTS.directory, w);
    this.#apply(r.changes);
  }

  #apply(changes: DirectoryChange[]): void {
    const handlers = this.#handlers;
    for (const c of changes) {
      switch (c.kind) {
        case 'online':
        case 'offline':
          handlers?.presence(c.fp, c.kind === 'online');
          break;
        case 'moved':
          this.#log.debug({ fingerprint: c.fp, from: c.from, to: c.to }, 'registration moved');
          break;
        case 'evicted': {
          this.#c.evictions++;
          this.#stopListening(c.fp);
          const session = this.#local.sessionOf(c.fp);
          if (session) {
            this.#local.unregister(session);
            handlers?.evicted(session, c.by);
          }
          this.#log.info({ fingerprint: c.fp, by: c.by }, 'registration replaced on another relay');
          break;
        }
        case 'peer-up':
          this.#log.info({ peer: c.peer.relay, instance: c.peer.instance }, 'cluster peer up');
          // A peer we had not heard (new, restarted, or back from a split): it needs our list.
          this.#sendSnapshot();
          break;
        case 'peer-down':
          this.#log.warn(
            { peer: c.relay, instance: c.instance, why: c.why, registrations: c.entries },
            c.why === 'left' ? 'cluster peer left' : 'cluster peer lost: its registrations expire',
          );
          break;
      }
    }
  }

  #decode<T>(schema: Parameters<typeof decodeClusterMessage<T>>[0], data: Uint8Array): T | null {
    const m = decodeClusterMessage(schema, data);
    if (m === null) this.#c.malformed++;
    return m;
  }
}
