// The relay's shared state, behind one small interface: who is registered (and through which
// session), who watches whose presence, and which calls are in progress between whom. The
// in-memory implementation serves one relay process; a cluster backend on an existing engine
// (NATS is the plan, DESIGN.md) implements the same interface so that clients registered on
// different relays can reach each other. Nothing else in the relay keeps such state.
import type { CallId } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type { RelayToClient } from '../../src-shared/relay-protocol.ts';

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

export interface RelayState {
  /** Make `session` the live registration of its identity; returns the one it replaces. */
  register(session: ClientSession): ClientSession | undefined;
  /** Forget the session if it is still the live one; true when it was. */
  unregister(session: ClientSession): boolean;
  sessionOf(fingerprint: Fingerprint): ClientSession | undefined;

  setSubscriptions(subscriber: ClientSession, fingerprints: readonly Fingerprint[]): void;
  dropSubscriptions(subscriber: ClientSession): void;
  watchersOf(fingerprint: Fingerprint): ClientSession[];

  /** False when a call with this id already exists. */
  createCall(call: CallRecord): boolean;
  getCall(id: CallId): CallRecord | undefined;
  endCall(id: CallId): CallRecord | undefined;
  callsOf(fingerprint: Fingerprint): CallRecord[];

  counts(): { registered: number; calls: number; subscriptions: number };
}

export class InMemoryRelayState implements RelayState {
  #sessions = new Map<Fingerprint, ClientSession>();
  #subscriptions = new Map<ClientSession, Set<Fingerprint>>();
  #watchers = new Map<Fingerprint, Set<ClientSession>>();
  #calls = new Map<CallId, CallRecord>();
  #callsByParty = new Map<Fingerprint, Set<CallId>>();

  register(session: ClientSession): ClientSession | undefined {
    const previous = this.#sessions.get(session.fingerprint);
    this.#sessions.set(session.fingerprint, session);
    return previous === session ? undefined : previous;
  }

  unregister(session: ClientSession): boolean {
    if (this.#sessions.get(session.fingerprint) !== session) return false;
    this.#sessions.delete(session.fingerprint);
    return true;
  }

  sessionOf(fingerprint: Fingerprint): ClientSession | undefined {
    return this.#sessions.get(fingerprint);
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
}
