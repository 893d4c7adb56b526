// TEST DOUBLE — NOT THE ENGINE. An in-memory Softphone that implements the engine's host-facing
// interface (src-main/engine/call/softphone-api.ts) with no sockets, no crypto and no codec, so
// the app service, the web host and the renderer can be tested before (and apart from) the real
// engine. Tests drive the "remote side" through the methods marked "test control".
// `createSoftphone` (exported at the bottom) makes a self-driving demo phone for the web host's
// `--softphone-module` option: outgoing calls ring, are answered, move from relay to direct and
// echo the microphone back.
import type { CallId, HangupReason, MediaPath } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type {
  CallDirection,
  CallEndInfo,
  CallEndReason,
  CallEvents,
  CallHandle,
  CallState,
  CallStatsSnapshot,
  RelayConnectionState,
  RelayRegistration,
  Softphone,
  SoftphoneEvents,
} from '../../src-main/engine/call/softphone-api.ts';
import { TypedEmitter } from '../../src-main/engine/base/typed-emitter.ts';
import type { SoftphoneConfig } from '../../src-main/app/softphone-factory.ts';

let callCounter = 0;
function fakeCallId(): CallId {
  callCounter++;
  return `fakecall${String(callCounter).padStart(14, '0')}`;
}

export interface FakeCallOptions {
  /** Demo mode: answer an outgoing call after this many ms (null: wait for remoteAnswer). */
  autoAnswerMs?: number | null;
  /** Demo mode: move media to the direct path this long after connecting. */
  directAfterMs?: number | null;
  /** Demo mode: play back what the microphone sends. */
  echo?: boolean;
}

export class FakeCallHandle extends TypedEmitter<CallEvents> implements CallHandle {
  readonly id: CallId;
  #state: CallState;
  #path: MediaPath | null = null;
  #muted = false;
  #liveness: 'live' | 'reconnecting' = 'live';
  #connectedAt: number | null = null;
  #timers: NodeJS.Timeout[] = [];
  readonly sentFrames: Int16Array[] = [];
  readonly actions: string[] = [];
  /** The name an incoming caller's invite gave (test control: simulateIncoming). */
  displayName: string | null = null;

  constructor(
    readonly peer: Fingerprint,
    readonly direction: CallDirection,
    private readonly demo: FakeCallOptions = {},
    private readonly onDone: (h: FakeCallHandle) => void = () => {},
  ) {
    super();
    this.id = fakeCallId();
    this.#state = direction === 'outgoing' ? 'calling' : 'ringing';
  }

  get state(): CallState {
    return this.#state;
  }
  get path(): MediaPath | null {
    return this.#path;
  }
  get muted(): boolean {
    return this.#muted;
  }

  async answer(): Promise<void> {
    this.actions.push('answer');
    if (this.direction !== 'incoming' || this.#state !== 'ringing') {
      throw new Error('nothing to answer');
    }
    this.#connect();
  }

  async decline(): Promise<void> {
    this.actions.push('decline');
    if (this.#state === 'ended') return;
    this.#end('declined');
  }

  async hangup(reason?: HangupReason): Promise<void> {
    this.actions.push(`hangup:${reason ?? 'normal'}`);
    if (this.#state === 'ended') return;
    this.#end(this.#state === 'connected' ? 'hangup-local' : 'cancelled');
  }

  setMuted(muted: boolean): void {
    this.#muted = muted;
  }

  sendAudio(frame: Int16Array): void {
    if (this.#state !== 'connected') return;
    if (this.sentFrames.length < 10_000) this.sentFrames.push(frame);
    if (this.demo.echo) this.emit('audio', this.#muted ? new Int16Array(960) : frame);
  }

  stats(): CallStatsSnapshot {
    return {
      path: this.#path,
      rttMs:
        this.#liveness === 'reconnecting'
          ? null
          : this.#path === 'direct'
            ? 12
            : this.#path === 'relay'
              ? 48
              : null,
      lossPct: this.#liveness === 'reconnecting' ? 100 : this.#path === 'relay' ? 0.5 : 0,
      jitterMs: this.#liveness === 'reconnecting' ? null : 3,
      bitrateKbps: 24,
      tier: 2,
      framesSent: this.sentFrames.length,
      framesReceived: 0,
      framesConcealed: 0,
      framesLate: 0,
      framesRecovered: 0,
      jitterBufferMs: 40,
      liveness: this.#liveness,
      silentMs: this.#liveness === 'live' ? 20 : 2500,
    };
  }

  // ---- test control ------------------------------------------------------------------------

  /** The remote side rings (outgoing calls). */
  remoteRinging(): void {
    if (this.#state === 'calling') this.#setState('ringing');
  }

  /** The remote side answers (outgoing calls). */
  remoteAnswer(): void {
    if (this.direction === 'outgoing' && this.#state !== 'ended') this.#connect();
  }

  remoteDecline(): void {
    this.#end('declined');
  }

  remoteHangup(): void {
    this.#end(this.#state === 'connected' ? 'hangup-remote' : 'cancelled');
  }

  fail(reason: CallEndReason = 'error'): void {
    this.#end(reason);
  }

  setPath(path: MediaPath, reason = 'test'): void {
    this.#path = path;
    this.emit('path', { path, reason });
  }

  /** The remote side goes silent ('reconnecting') or is heard again ('live'). */
  setLiveness(state: 'live' | 'reconnecting'): void {
    if (state === this.#liveness) return;
    this.#liveness = state;
    this.emit('liveness', { state, silentMs: state === 'live' ? 2500 : 2000 });
  }

  emitStats(): void {
    this.emit('stats', this.stats());
  }

  emitAudio(frame: Int16Array): void {
    this.emit('audio', frame);
  }

  emitVerified(sas: string): void {
    this.emit('verified', { sas });
  }

  /** Demo mode only: called by FakeSoftphone.call. */
  startDemo(): void {
    const t = (ms: number, f: () => void) => this.#timers.push(setTimeout(f, ms));
    t(100, () => this.remoteRinging());
    if (this.demo.autoAnswerMs != null) t(this.demo.autoAnswerMs, () => this.remoteAnswer());
  }

  // ---- internals ---------------------------------------------------------------------------

  #connect(): void {
    if (this.#state === 'connected' || this.#state === 'ended') return;
    this.#connectedAt = Date.now();
    this.#setState('connected');
    this.setPath('relay', 'call start');
    if (this.demo.directAfterMs != null) {
      this.#timers.push(
        setTimeout(() => {
          if (this.#state === 'connected') this.setPath('direct', 'hole punched');
        }, this.demo.directAfterMs),
      );
    }
    if (this.demo.autoAnswerMs != null || this.demo.echo) {
      const iv = setInterval(() => this.emitStats(), 1000);
      this.#timers.push(iv as unknown as NodeJS.Timeout);
      this.emitVerified('ALPHA-BRAVO-CHARLIE');
    }
  }

  #setState(s: CallState): void {
    this.#state = s;
    this.emit('state', s);
  }

  #end(reason: CallEndReason): void {
    if (this.#state === 'ended') return;
    for (const t of this.#timers) clearTimeout(t);
    for (const t of this.#timers) clearInterval(t);
    const info: CallEndInfo = {
      reason,
      framesSent: this.sentFrames.length,
      framesReceived: 0,
      framesConcealed: 0,
      durationS: this.#connectedAt ? (Date.now() - this.#connectedAt) / 1000 : 0,
    };
    this.#setState('ended');
    this.emit('ended', info);
    this.onDone(this);
  }
}

export interface FakeSoftphoneOptions extends FakeCallOptions {
  /** Register with the "relay" by itself after this many ms (null: stay 'connecting'). */
  registerAfterMs?: number | null;
  /** Report every watched fingerprint online once watched. */
  everyoneOnline?: boolean;
}

export class FakeSoftphone extends TypedEmitter<SoftphoneEvents> implements Softphone {
  readonly fingerprint: Fingerprint;
  #relayState: RelayConnectionState = 'connecting';
  #direct: boolean;
  readonly calls: FakeCallHandle[] = [];
  watched: Fingerprint[] = [];
  closed = false;
  readonly callOptions: Array<{ direct?: boolean; displayName?: string } | undefined> = [];
  #timer: NodeJS.Timeout | null = null;

  constructor(
    fingerprint: Fingerprint,
    readonly config: SoftphoneConfig | null = null,
    private readonly opts: FakeSoftphoneOptions = {},
  ) {
    super();
    this.fingerprint = fingerprint;
    this.#direct = config?.directCalls ?? true;
    if (opts.registerAfterMs != null) {
      this.#timer = setTimeout(() => this.setRelayState('registered'), opts.registerAfterMs);
    }
  }

  get relayState(): RelayConnectionState {
    return this.#relayState;
  }

  /** Once "registered": the configured relay's fingerprint and a made-up STUN address. */
  get registration(): RelayRegistration | null {
    if (this.#relayState !== 'registered' || !this.config) return null;
    return {
      relay: this.config.relay.fingerprint,
      address: { host: '127.0.0.1', port: 3478 },
      stun: { host: '127.0.0.1', port: 3479 },
    };
  }

  get directCalls(): boolean {
    return this.#direct;
  }

  async call(
    peer: Fingerprint,
    opts?: { direct?: boolean; displayName?: string },
  ): Promise<CallHandle> {
    if (this.closed) throw new Error('closed');
    if (this.#relayState !== 'registered') throw new Error('not registered');
    this.callOptions.push(opts);
    const h = new FakeCallHandle(peer, 'outgoing', this.opts);
    this.calls.push(h);
    h.startDemo();
    return h;
  }

  async watchPresence(fingerprints: readonly Fingerprint[]): Promise<void> {
    this.watched = [...fingerprints];
    if (this.opts.everyoneOnline) {
      for (const fp of fingerprints) this.emit('presence', { fingerprint: fp, online: true });
    }
  }

  setDirectCalls(enabled: boolean): void {
    this.#direct = enabled;
  }

  async close(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.closed = true;
    this.#relayState = 'stopped';
    for (const c of this.calls) if (c.state !== 'ended') c.fail('relay-lost');
  }

  // ---- test control ------------------------------------------------------------------------

  setRelayState(state: RelayConnectionState, detail?: string): void {
    this.#relayState = state;
    this.emit('relay', detail === undefined ? { state } : { state, detail });
  }

  setPresence(fingerprint: Fingerprint, online: boolean): void {
    this.emit('presence', { fingerprint, online });
  }

  /** Someone called while in a call: the engine turned them away as busy. */
  simulateRejectedBusy(peer: Fingerprint, displayName: string | null = null): void {
    this.emit('rejected-busy', { peer, callId: fakeCallId(), displayName });
  }

  simulateIncoming(peer: Fingerprint, displayName: string | null = null): FakeCallHandle {
    const h = new FakeCallHandle(peer, 'incoming', this.opts);
    h.displayName = displayName;
    this.calls.push(h);
    this.emit('incoming', h);
    return h;
  }
}

/**
 * The demo factory for `npm run web -- --softphone-module test/support/fake-softphone.ts`.
 * The fingerprint is derived by the app from the seed; the fake only needs to echo it.
 */
export async function createSoftphone(config: SoftphoneConfig): Promise<Softphone> {
  const { Identity } = await import('../../src-main/engine/identity/identity.ts');
  const fp = Identity.fromSeed(config.identitySeed).fingerprint;
  return new FakeSoftphone(fp, config, {
    registerAfterMs: 50,
    everyoneOnline: true,
    autoAnswerMs: 800,
    directAfterMs: 1500,
    echo: true,
  });
}
