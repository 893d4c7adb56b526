// The call in progress, as the app sees it: placed, answered and ended through the Softphone,
// projected into the CallView the renderer shows, and turned into one history entry and at most
// one notice when it ends or when a second caller is turned away. One call at a time.
import type {
  CallOutcome,
  CallView,
  Contact,
  HistoryEntry,
  RelayStateView,
} from '../../src-shared/ipc-contract.ts';
import type {
  CallEndInfo,
  CallEndReason,
  CallHandle,
  CallStatsSnapshot,
  Softphone,
} from '../engine/call/softphone-api.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { AppError } from './app-error.ts';
import type { AppEvents } from './app-events.ts';
import type { AppStore } from './app-store.ts';
import type { AudioRoute } from './audio-route.ts';
import { findContact } from './contacts.ts';

export interface CallControlOptions {
  store: AppStore;
  events: AppEvents;
  audio: AudioRoute;
  now: () => number;
  /** The running phone, if any, and the relay's state as the snapshot shows it. */
  phone: () => Softphone | null;
  relayState: () => RelayStateView;
}

interface ActiveCall {
  handle: CallHandle;
  view: CallView;
  offs: Array<() => void>;
}

/** For a call whose end the engine could not report (it ended before we listened, or the phone
 *  went away): nothing was sent or received. */
function endedWithout(reason: CallEndReason): CallEndInfo {
  return { reason, framesSent: 0, framesReceived: 0, framesConcealed: 0, durationS: 0 };
}

export class CallControl {
  readonly #opts: CallControlOptions;
  #call: ActiveCall | null = null;

  constructor(opts: CallControlOptions) {
    this.#opts = opts;
  }

  /** A copy of the call's view for the snapshot. */
  view(): CallView | null {
    const call = this.#call;
    if (!call) return null;
    return { ...call.view, stats: call.view.stats ? { ...call.view.stats } : null };
  }

  async start(contactId: string): Promise<{ callId: string }> {
    const contact = findContact(this.#opts.store.contacts, contactId);
    const phone = this.#opts.phone();
    if (!phone || this.#opts.relayState() !== 'registered') {
      throw new AppError('not-ready', 'not connected to the relay yet');
    }
    if (this.#call) throw new AppError('busy', 'already in a call');
    const settings = this.#opts.store.settings;
    let handle: CallHandle;
    try {
      const opts: { direct: boolean; displayName?: string } = { direct: settings.directCalls };
      if (settings.displayName) opts.displayName = settings.displayName;
      handle = await phone.call(contact.fingerprint, opts);
    } catch (e) {
      throw new AppError('engine', `could not place the call: ${(e as Error).message}`);
    }
    if (this.#call) {
      // An incoming call won the race while we were dialing.
      await handle.hangup('cancelled').catch(() => {});
      throw new AppError('busy', 'already in a call');
    }
    this.#attach(handle);
    return { callId: handle.id };
  }

  async answer(callId: string): Promise<void> {
    await this.#callFor(callId).handle.answer();
  }

  async decline(callId: string): Promise<void> {
    await this.#callFor(callId).handle.decline();
  }

  async hangUp(callId: string): Promise<void> {
    await this.#callFor(callId).handle.hangup('normal');
  }

  setMuted(callId: string, muted: boolean): void {
    const call = this.#callFor(callId);
    call.handle.setMuted(muted);
    call.view.muted = call.handle.muted;
    this.#opts.events.queueSnapshot();
  }

  /** The microphone's samples, sent only while the call is connected. */
  sendAudio(samples: Int16Array): void {
    const call = this.#call;
    if (call && call.view.state === 'connected') call.handle.sendAudio(samples);
  }

  onIncoming(handle: CallHandle): void {
    if (!this.#call) {
      this.#attach(handle);
      return;
    }
    // One call at a time: a second caller hears "busy" from the engine's decline.
    void handle.decline().catch(() => {});
    this.onRejectedBusy({
      peer: handle.peer,
      callId: handle.id,
      displayName: handle.displayName ?? null,
    });
  }

  /** Someone called while we were in a call (turned away as busy): a notice and a history entry. */
  onRejectedBusy(b: { peer: string; callId: string; displayName: string | null }): void {
    const contact = this.#opts.store.contacts.find((c) => c.fingerprint === b.peer) ?? null;
    const party = partyOf(contact, b.displayName);
    this.#opts.store.addHistory(
      historyEntry(
        {
          id: b.callId,
          peer: b.peer as Fingerprint,
          direction: 'incoming',
          startedAt: this.#opts.now(),
          path: null,
        },
        party,
        { outcome: 'missed', reason: 'busy', durationS: 0 },
      ),
    );
    this.#opts.events.notice('info', `${party.name ?? 'Someone'} called while you were in a call`);
    this.#opts.events.queueSnapshot();
  }

  /** The app is closing: hang up politely. */
  async hangUpForClose(): Promise<void> {
    await this.#call?.handle.hangup('normal').catch(() => {});
  }

  /** The phone is going away: the call (if any) ends as lost with the relay. */
  async endWithPhone(): Promise<void> {
    const call = this.#call;
    if (!call) return;
    await call.handle.hangup('normal').catch(() => {});
    this.#onEnded(call, endedWithout('relay-lost'));
  }

  #contactOf(handle: CallHandle): Contact | null {
    return this.#opts.store.contacts.find((c) => c.fingerprint === handle.peer) ?? null;
  }

  #callFor(callId: string): ActiveCall {
    if (!this.#call || this.#call.handle.id !== callId) {
      throw new AppError('not-found', 'no such call');
    }
    return this.#call;
  }

  #attach(handle: CallHandle): void {
    const contact = this.#contactOf(handle);
    const view: CallView = {
      id: handle.id,
      peer: handle.peer,
      ...partyOf(contact, handle.displayName ?? null),
      keyWarning: contact?.keyChange != null,
      verified: contact?.verified ?? false,
      direction: handle.direction,
      state: handle.state,
      path: handle.path,
      muted: handle.muted,
      startedAt: this.#opts.now(),
      connectedAt: handle.state === 'connected' ? this.#opts.now() : null,
      stats: null,
      sas: null,
    };
    const call: ActiveCall = { handle, view, offs: [] };
    const changed = (): void => this.#opts.events.queueSnapshot();
    call.offs.push(
      handle.on('state', (state) => {
        view.state = state;
        if (state === 'connected' && view.connectedAt === null) view.connectedAt = this.#opts.now();
        changed();
      }),
      handle.on('path', ({ path }) => {
        view.path = path;
        changed();
      }),
      handle.on('stats', (s) => {
        // A silent peer's figures are no data, never its last good ones.
        view.stats = s.liveness === 'live' ? statsView(s, this.#opts.now()) : null;
        if (s.path) view.path = s.path;
        changed();
      }),
      handle.on('liveness', ({ state }) => {
        view.reconnecting = state === 'reconnecting';
        if (view.reconnecting) view.stats = null;
        changed();
      }),
      handle.on('verified', ({ sas }) => {
        view.sas = sas.slice(0, 64);
        changed();
      }),
      handle.on('audio', (pcm) => this.#opts.audio.play(pcm)),
      handle.on('ended', (info) => this.#onEnded(call, info)),
    );
    this.#call = call;
    if (handle.state === 'ended') this.#onEnded(call, endedWithout('error'));
    changed();
  }

  #onEnded(call: ActiveCall, info: CallEndInfo): void {
    if (this.#call !== call) return;
    for (const off of call.offs) off();
    this.#call = null;
    const v = call.view;
    const outcome = callOutcome(v, info);
    const now = this.#opts.now();
    const durationS = v.connectedAt !== null ? Math.max(0, (now - v.connectedAt) / 1000) : 0;
    const { store, events } = this.#opts;
    store.addHistory(historyEntry(v, v, { outcome, reason: info.reason, durationS }));
    if (v.contactId) {
      store.setContacts(
        store.contacts.map((c) => (c.id === v.contactId ? { ...c, lastCallAt: now } : c)),
      );
    }
    const who = v.name ?? 'Unknown caller';
    if (outcome === 'missed') events.notice('info', `Missed call from ${who}`);
    else if (outcome === 'failed')
      events.notice('warning', `Call with ${who} failed (${info.reason})`);
    else if (outcome === 'declined' && v.direction === 'outgoing')
      events.notice('info', `${who} declined the call`);
    else if (info.reason === 'connection-lost')
      events.notice('warning', `Call with ${who} ended: connection lost`);
    events.queueSnapshot();
  }
}

/** Who is on the other end, as far as the contacts know. */
function partyOf(
  contact: Contact | null,
  displayName: string | null = null,
): Pick<CallView, 'contactId' | 'name'> {
  // A stranger's own name for themselves (from the invite), shown marked as not a contact.
  return { contactId: contact?.id ?? null, name: contact?.name ?? displayName };
}

/** The one place a history entry is made, for calls that ended and for callers turned away. */
function historyEntry(
  call: Pick<HistoryEntry, 'id' | 'peer' | 'direction' | 'startedAt' | 'path'>,
  party: Pick<HistoryEntry, 'contactId' | 'name'>,
  end: Pick<HistoryEntry, 'outcome' | 'reason' | 'durationS'>,
): HistoryEntry {
  return {
    id: call.id,
    peer: call.peer,
    contactId: party.contactId,
    name: party.name,
    direction: call.direction,
    startedAt: call.startedAt,
    durationS: end.durationS,
    outcome: end.outcome,
    reason: end.reason,
    path: call.path,
  };
}

function statsView(s: CallStatsSnapshot, measuredAt: number): CallView['stats'] {
  return {
    measuredAt,
    rttMs: s.rttMs,
    lossPct: s.lossPct,
    jitterMs: s.jitterMs,
    bitrateKbps: s.bitrateKbps,
    tier: s.tier,
  };
}

function callOutcome(
  v: Pick<CallView, 'connectedAt' | 'direction'>,
  info: CallEndInfo,
): CallOutcome {
  if (v.connectedAt !== null) return 'answered';
  if (info.reason === 'declined') return 'declined';
  if (v.direction === 'incoming') {
    return ['hangup-remote', 'cancelled', 'no-answer', 'remote-gone'].includes(info.reason)
      ? 'missed'
      : 'failed';
  }
  return info.reason === 'hangup-local' || info.reason === 'cancelled' ? 'cancelled' : 'failed';
}
