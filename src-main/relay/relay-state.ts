// The relay's shared state, behind one small interface: who is registered (and through which
// session, or on which other relay), who watches whose presence, which calls are in progress
// between whom, and how a call message reaches a party that another relay holds. The in-memory
// implementation serves one relay process; the NATS backend (cluster/nats-relay-state.ts)
// implements the same interface for a cluster. Nothing else in the relay keeps such state.
import type { CallId, CallSignal } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type { CallErrorReason, RelayToClient } from '../../src-shared/relay-protocol.ts';

/** A registered client as the state sees it: something that can be told things, or dropped. */
export interface ClientSession {
  readonly id: number;
  readonly fingerprint: Fingerprint;
  deliver(message: RelayToClient): void;
  close(reason: string): void;
}

export interface CallRecord {
  id: CallId;
  caller: Fingerprint;
  callee: Fingerprint;
  state: 'ringing' | 'active';
  createdAtMs: number;
}

/** Where a registered identity can be reached. */
export type PartyLocation =
  { kind: 'local'; session: ClientSession } | { kind: 'remote'; relay: string };

/** One relay's half of a cross-relay media leg: where, on which channel and under which key. */
export interface TrunkOffer {
  channelId: number;
  /** base64url, 32 bytes. */
  key: string;
  /** HOST:PORT of that relay's UDP media plane. */
  media: string;
}

/** A call message for a party another relay holds (or, arriving, that this relay holds). */
export type RoutedCallMessage =
  | {
      kind: 'signal';
      from: Fingerprint;
      to: Fingerprint;
      callId: CallId;
      signal: CallSignal;
      trunk?: TrunkOffer;
    }
  | { kind: 'trunk'; from: Fingerprint; to: Fingerprint; callId: CallId; trunk: TrunkOffer }
  /** `from` asked its relay to take the call over; `to`'s relay takes it if `to` asked too. */
  | { kind: 'resume'; from: Fingerprint; to: Fingerprint; callId: CallId; trunk?: TrunkOffer };

export type InviteOutcome = { ok: true } | { ok: false; reason: CallErrorReason };

/** What the state tells the relay, for changes that do not come from the relay's own clients. */
export interface RelayStateHandlers {
  /** An identity came online or went offline (anywhere in the cluster). */
  presence(fingerprint: Fingerprint, online: boolean): void;
  /** A call message for a party held here arrived from `relay`. */
  routed(message: RoutedCallMessage, relay: string): void;
  /** An invite for a party held here arrived from `relay`: accept it into a call, or say why not. */
  invite(message: RoutedCallMessage & { kind: 'signal' }, relay: string): InviteOutcome;
  /** A newer registration of this session's identity on `relay` replaced it (already forgotten). */
  evicted(session: ClientSession, relay: string): void;
}

/** The cluster as the relay's health line shows it; null for a relay on its own. */
export interface ClusterStatus {
  name: string;
  link: 'up' | 'down';
  peers: { relay: string; registered: number; lastSeenMsAgo: number }[];
  peersSeen: number;
  directory: number;
  routedOut: number;
  routedIn: number;
  routedDropped: number;
  invitesRouted: number;
  evictions: number;
  linkDowns: number;
  malformed: number;
  /** Heartbeats from another relay instance using this relay's name. */
  nameConflicts: number;
}

export interface RelayState {
  /**
   * Hooks the state's own events to the relay; called once, before any client arrives.
   * `media` is HOST:PORT of the relay's UDP media plane as other relays reach it.
   */
  start(handlers: RelayStateHandlers, relay: { media: string }): void;
  /** Leave (the cluster); the relay's clients are already told. */
  close(): Promise<void>;

  /** Make `session` the live registration of its identity; returns the one it replaces. */
  register(session: ClientSession): ClientSession | undefined;
  /** Forget the session if it is still the live one; true when it was. */
  unregister(session: ClientSession): boolean;
  /** The session of an identity registered on this relay. */
  sessionOf(fingerprint: Fingerprint): ClientSession | undefined;
  /** Where an identity is registered, here or on another relay; undefined when offline. */
  locate(fingerprint: Fingerprint): PartyLocation | undefined;

  /** Send a call message to a party another relay holds (fire and forget, in order). */
  route(message: RoutedCallMessage): void;
  /** Send an invite to a party another relay holds; resolves with that relay's answer. */
  routeInvite(message: RoutedCallMessage & { kind: 'signal' }): Promise<InviteOutcome>;

  setSubscriptions(subscriber: ClientSession, fingerprints: readonly Fingerprint[]): void;
  dropSubscriptions(subscriber: ClientSession): void;
  watchersOf(fingerprint: Fingerprint): ClientSession[];

  /** False when a call with this id already exists. */
  createCall(call: CallRecord): boolean;
  getCall(id: CallId): CallRecord | undefined;
  endCall(id: CallId): CallRecord | undefined;
  callsOf(fingerprint: Fingerprint): CallRecord[];

  counts(): { registered: number; calls: number; subscriptions: number };
  cluster(): ClusterStatus | null;
}

export class InMemoryRelayState implements RelayState {
  #sessions = new Map<Fingerprint, ClientSession>();
  #subscriptions = new Map<ClientSession, Set<Fingerprint>>();
  #watchers = new Map<Fingerprint, Set<ClientSession>>();
  #calls = new Map<CallId, CallRecord>();
  #callsByParty = new Map<Fingerprint, Set<CallId>>();
  #handlers: RelayStateHandlers | null = null;
  /** False when this state is the local half of a cluster backend, which announces presence. */
  readonly #announces: boolean;

  constructor(opts: { announcesPresence?: boolean } = {}) {
    this.#announces = opts.announcesPresence ?? true;
  }

  start(handlers: RelayStateHandlers): void {
    this.#handlers = handlers;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  register(session: ClientSession): ClientSession | undefined {
    const previous = this.#sessions.get(session.fingerprint);
    this.#sessions.set(session.fingerprint, session);
    if (!previous && this.#announces) this.#handlers?.presence(session.fingerprint, true);
    return previous === session ? undefined : previous;
  }

  unregister(session: ClientSession): boolean {
    if (this.#sessions.get(session.fingerprint) !== session) return false;
    this.#sessions.delete(session.fingerprint);
    if (this.#announces) this.#handlers?.presence(session.fingerprint, false);
    return true;
  }

  sessionOf(fingerprint: Fingerprint): ClientSession | undefined {
    return this.#sessions.get(fingerprint);
  }

  locate(fingerprint: Fingerprint): PartyLocation | undefined {
    const session = this.#sessions.get(fingerprint);
    return session ? { kind: 'local', session } : undefined;
  }

  route(): void {
    // One relay: every party is local, so nothing is ever routed.
  }

  routeInvite(): Promise<InviteOutcome> {
    return Promise.resolve({ ok: false, reason: 'offline' });
  }

  setSubscriptions(subscriber: ClientSession, fingerprints: readonly Fingerprint[]): void {
    this.dropSubscriptions(subscriber);
    const set = new Set(fingerprints);
    this.#subscriptions.set(subscriber, set);
    for (const fp of set) {
      let w = this.#watchers.get(fp);
      if (!w) {
        w = new Set();
        this.#watchers.set(fp, w);
      }
      w.add(subscriber);
    }
  }

  dropSubscriptions(subscriber: ClientSession): void {
    const old = this.#subscriptions.get(subscriber);
    if (!old) return;
    for (const fp of old) {
      const w = this.#watchers.get(fp);
      w?.delete(subscriber);
      if (w && w.size === 0) this.#watchers.delete(fp);
    }
    this.#subscriptions.delete(subscriber);
  }

  watchersOf(fingerprint: Fingerprint): ClientSession[] {
    return [...(this.#watchers.get(fingerprint) ?? [])];
  }

  createCall(call: CallRecord): boolean {
    if (this.#calls.has(call.id)) return false;
    this.#calls.set(call.id, call);
    for (const p of [call.caller, call.callee]) {
      let s = this.#callsByParty.get(p);
      if (!s) {
        s = new Set();
        this.#callsByParty.set(p, s);
      }
      s.add(call.id);
    }
    return true;
  }

  getCall(id: CallId): CallRecord | undefined {
    return this.#calls.get(id);
  }

  endCall(id: CallId): CallRecord | undefined {
    const call = this.#calls.get(id);
    if (!call) return undefined;
    this.#calls.delete(id);
    for (const p of [call.caller, call.callee]) {
      const s = this.#callsByParty.get(p);
      s?.delete(id);
      if (s && s.size === 0) this.#callsByParty.delete(p);
    }
    return call;
  }

  callsOf(fingerprint: Fingerprint): CallRecord[] {
    return [...(this.#callsByParty.get(fingerprint) ?? [])]
      .map((id) => this.#calls.get(id))
      .filter((c): c is CallRecord => c !== undefined);
  }

  counts(): { registered: number; calls: number; subscriptions: number } {
    let subscriptions = 0;
    for (const s of this.#subscriptions.values()) subscriptions += s.size;
    return { registered: this.#sessions.size, calls: this.#calls.size, subscriptions };
  }

  cluster(): ClusterStatus | null {
    return null;
  }
}
