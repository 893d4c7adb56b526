// One call, from invite to hang-up: its state machine, the signed key exchange that keys the
// media cipher, the media pipeline, playout pacing and tier changes. It delegates its media
// paths to MediaPaths (the transports and the coordinated switch between them), the direct path's
// life to DirectPath (attempts, supervision, retries) and its figures and receiver reports to
// CallStatsCollector. Signals reach it already schema-checked and addressed to this call.
// Whether the peer is still there is CallLiveness's verdict on what arrives on every media path
// (authenticated media, and the direct connection's own pings): "reconnecting" after ~2 s of
// nothing, the call ends as "connection-lost" after ~15 s. Hang-up goes out on every path.
// Why one file of about 620 lines: the state machine's transitions, the key exchange's steps and
// liveness's verdicts each change what the others may do next (no media before keys, no
// "reconnecting" before connected, hang-up from any state), so they share one set of fields;
// the liveness glue is the next candidate to move out, beside CallLiveness.
import { randomBytes } from 'node:crypto';
import {
  HangupReasonSchema,
  type CallId,
  type CallSignal,
  type HangupReason,
  type MediaPath,
} from '../../../src-shared/call-signals.ts';
import { fingerprintBytes, type Fingerprint } from '../../../src-shared/fingerprint.ts';
import type { Identity } from '../identity/identity.ts';
import { createMediaCiphers } from '../media/frame-cipher.ts';
import { KeyExchange, type SessionKeys } from '../media/key-exchange.ts';
import { MediaReceiver, MediaSender, SLICE_SAMPLES } from '../media/media-pipeline.ts';
import { QualityController, type QualityAction } from '../media/quality-controller.ts';
import { DEFAULT_TIER, tierById } from '../media/quality-tiers.ts';
import { TypedEmitter } from '../base/typed-emitter.ts';
import type { DirectAttempt } from '../nat/direct-connector.ts';
import { CallStatsCollector, round } from './call-stats.ts';
import { nextCallState, type CallEvent } from './call-state.ts';
import { DirectPath } from './direct-path.ts';
import { CallLiveness, type LivenessOptions, type LivenessOutput } from './liveness.ts';
import { MediaPaths } from './media-paths.ts';
import { hangupCloseReason, type MediaTransport } from './media-transport.ts';
import { backgroundScheduler, Ticker } from './ticker.ts';
import type {
  CallDirection,
  CallEndInfo,
  CallEvents,
  CallHandle,
  CallState,
  CallStatsSnapshot,
} from './softphone-api.ts';

export function newCallId(): CallId {
  return randomBytes(16).toString('base64url');
}

export interface CallContext {
  identity: Identity;
  /** The deterministic tie-break both sides compute the same way: the lower fingerprint wins. */
  localIsTieWinner: boolean;
  /** Whether this side wants a direct path (the user's setting, read when it matters). */
  directCalls(): boolean;
  /** A fresh direct-path attempt for this call (null when direct calls are off). */
  createDirectAttempt?: () => DirectAttempt | null;
  /** Send a signal to the peer of this call (through the relay). */
  signal(signal: CallSignal): Promise<void>;
  ringTimeoutMs: number;
  now?: () => number;
  /** How long silence may last (tests shorten it); defaults in liveness.ts. */
  liveness?: LivenessOptions;
}

const STATS_INTERVAL_MS = 1000;
const KEY_SHARE_WAIT_MS = 3000;
const LIVENESS_TICK_MS = 200;
/**
 * A hang-up that cannot leave through the relay (it is gone, or going) must not keep the call
 * open: the direct path and the peer's liveness carry it instead.
 */
const HANGUP_SIGNAL_WAIT_MS = 1000;
/**
 * The relay's `remote-gone` is its guess (the peer's relay connection dropped); media heard from
 * the peer this recently, on any path, says the peer is there (its relay link may come back).
 */
const HEARD_RECENTLY_MS = 1000;
/** Silence fed to the encoder for a keep-alive: DTX sends one within 400 ms of silence. */
const KEEPALIVE_MAX_SLICES = 30;

export class Call extends TypedEmitter<CallEvents> implements CallHandle {
  readonly id: CallId;
  readonly peer: Fingerprint;
  readonly direction: CallDirection;
  #state: CallState;
  #muted = false;
  #displayName: string | null = null;
  readonly #ctx: CallContext;
  readonly #now: () => number;
  readonly #kx: KeyExchange;
  #keys: SessionKeys | null = null;
  #pendingPeerShare: unknown = null;
  #sender: MediaSender | null = null;
  #receiver: MediaReceiver | null = null;
  readonly #paths: MediaPaths;
  readonly #direct: DirectPath;
  #playout: Ticker | null = null;
  #statsTimer: NodeJS.Timeout | null = null;
  #ringTimer: NodeJS.Timeout | null = null;
  #connectedAt: number | null = null;
  readonly #stats = new CallStatsCollector();
  #endInfo: CallEndInfo | null = null;
  /** Resources that failed to release when the call ended (counted, never thrown). */
  #teardownErrors = 0;
  /** Both sides asked for a direct path (invite and accept). */
  #peerWantsDirect = false;
  readonly #quality = new QualityController();
  #pendingTier: { tier: number; atSeq: number; reason: string } | null = null;
  #liveness: CallLiveness | null = null;
  #livenessTimer: NodeJS.Timeout | null = null;
  #hangingUp = false;
  /** Relay `remote-gone` signals ignored because the peer was heard (counted for tests). */
  #remoteGoneIgnored = 0;

  constructor(opts: { id: CallId; peer: Fingerprint; direction: CallDirection; ctx: CallContext }) {
    super();
    this.id = opts.id;
    this.peer = opts.peer;
    this.direction = opts.direction;
    this.#ctx = opts.ctx;
    this.#now = opts.ctx.now ?? (() => performance.now());
    this.#state = opts.direction === 'outgoing' ? 'calling' : 'ringing';
    this.#kx = new KeyExchange({
      signer: opts.ctx.identity,
      role: opts.direction === 'outgoing' ? 'caller' : 'callee',
      callId: opts.id,
      peerFingerprint: fingerprintBytes(opts.peer),
    });
    this.#ringTimer = setTimeout(() => {
      if (this.#state === 'connected') return;
      if (this.direction === 'outgoing') void this.#signal({ kind: 'hangup', reason: 'no-answer' });
      this.#apply({ type: 'no-answer' });
    }, opts.ctx.ringTimeoutMs);
    this.#ringTimer.unref();
    this.#paths = new MediaPaths({
      localIsTieWinner: opts.ctx.localIsTieWinner,
      nextSeq: () => this.#sender?.nextSeq ?? 0,
      now: this.#now,
      signal: (s) => void this.#signal(s),
      onPath: (path, reason, first) => {
        if (first) this.#maybeStartMedia();
        this.emit('path', { path, reason });
      },
    });
    this.#direct = new DirectPath({
      paths: this.#paths,
      localIsTieWinner: opts.ctx.localIsTieWinner,
      callState: () => this.#state,
      peerWantsDirect: () => this.#peerWantsDirect,
      createAttempt: opts.ctx.createDirectAttempt,
      onPacket: (p) => this.receivePacket(p),
      onPeerHangup: (reason) => this.#onPeerHangup(reason),
      onOutcome: (o) => this.emit('direct', o),
      scheduler: { now: this.#now, setTimeout: backgroundScheduler.setTimeout },
    });
  }

  get state(): CallState {
    return this.#state;
  }

  get path(): MediaPath | null {
    return this.#paths.current;
  }

  get muted(): boolean {
    return this.#muted;
  }

  get displayName(): string | null {
    return this.#displayName;
  }

  /** The name the caller's invite carried (incoming calls). */
  setDisplayName(name: string | null): void {
    this.#displayName = name;
  }

  get endInfo(): CallEndInfo | null {
    return this.#endInfo;
  }

  get teardownErrors(): number {
    return this.#teardownErrors;
  }

  /** 'reconnecting' while the peer has been silent on every path for ~2 s. */
  get liveness(): 'live' | 'reconnecting' {
    return this.#liveness?.state === 'reconnecting' ? 'reconnecting' : 'live';
  }

  get remoteGoneIgnored(): number {
    return this.#remoteGoneIgnored;
  }

  /** The caller's opening: invite, then our key share (the relay keeps them in order). */
  async start(opts: { direct: boolean; displayName?: string }): Promise<void> {
    await this.#signal({
      kind: 'invite',
      direct: opts.direct,
      ...(opts.displayName ? { displayName: opts.displayName } : {}),
    });
    await this.#signal({ kind: 'key-share', share: this.#kx.localShareWire() });
  }

  /** Set from the invite (callee) or the accept (caller): the peer is willing to go direct. */
  setPeerWantsDirect(wants: boolean): void {
    this.#peerWantsDirect = wants;
  }

  get peerWantsDirect(): boolean {
    return this.#peerWantsDirect;
  }

  async answer(): Promise<void> {
    if (this.direction !== 'incoming' || this.#state !== 'ringing') return;
    // The caller's key share follows its invite; a quick answer may beat it by a moment.
    if (!this.#keys) await this.#keysOrTimeout(KEY_SHARE_WAIT_MS);
    if (this.#state !== 'ringing') return;
    if (!this.#keys) {
      await this.#fail('security', 'the caller sent no valid key share');
      return;
    }
    await this.#signal({ kind: 'key-share', share: this.#kx.localShareWire() });
    await this.#signal({ kind: 'accept', direct: this.#ctx.directCalls() });
    this.#apply({ type: 'local-answer' });
  }

  async decline(): Promise<void> {
    if (this.#state !== 'ringing' || this.direction !== 'incoming') return;
    await this.#signal({ kind: 'reject', reason: 'declined' });
    this.#apply({ type: 'local-decline' });
  }

  async hangup(reason: HangupReason = 'normal'): Promise<void> {
    if (this.#state === 'ended' || this.#hangingUp) return;
    this.#hangingUp = true;
    const wire: HangupReason = this.#state === 'connected' ? reason : 'cancelled';
    // Every path carries it: the direct connection closes saying so at once (the relay may be
    // what is gone), and the relay forwards the signal if it can, within a bounded wait.
    await this.#within(
      Promise.all([
        this.#direct.closeSaying(hangupCloseReason(wire)),
        this.#signal({ kind: 'hangup', reason: wire }),
      ]),
      HANGUP_SIGNAL_WAIT_MS,
    );
    this.#apply({ type: 'local-hangup', reason });
  }

  setMuted(muted: boolean): void {
    this.#muted = muted;
    this.#sender?.setMuted(muted);
  }

  sendAudio(frame: Int16Array): void {
    if (frame.length !== SLICE_SAMPLES)
      throw new RangeError(`audio frames are ${SLICE_SAMPLES} samples`);
    const sender = this.#sender;
    if (!sender || this.#state !== 'connected') return;
    this.#maybeSwitchTier();
    const seq = sender.nextSeq;
    // While the direct path is suspect (silent for a moment, not yet given up), every packet
    // also goes over the relay: the receiver de-duplicates, and a real outage costs no audio.
    const alsoOnRelay = this.#direct.suspect;
    const reconnecting = this.#liveness?.state === 'reconnecting';
    for (const packet of sender.push(frame))
      this.#sendPacket(packet, seq, alsoOnRelay, reconnecting);
  }

  #sendPacket(packet: Uint8Array, seq: number, alsoOnRelay: boolean, everywhere: boolean): void {
    // A silent peer may be reachable on a path media is not on: try them all until it answers.
    if (everywhere) this.#paths.sendOnAll(packet);
    else this.#paths.send(packet, seq, alsoOnRelay);
    this.#liveness?.sent(this.#now());
  }

  /** A media path became available (relay grant, or an authenticated direct connection). */
  attachPath(transport: MediaTransport, reason: string): void {
    this.#paths.attach(transport, reason);
  }

  /** A sealed media packet arrived on any path: the receiver de-duplicates across paths. */
  receivePacket(packet: Uint8Array): void {
    const receiver = this.#receiver;
    if (!receiver) return;
    const now = this.#now();
    const outcome = receiver.receive(packet, now);
    // Only what opened under the call's keys is the peer (a replayed or forged packet is not).
    if (outcome === 'accepted' || outcome === 'late') this.#heard(now);
  }

  /** A signal from the peer for this call (already schema-checked). */
  async onSignal(signal: CallSignal): Promise<void> {
    switch (signal.kind) {
      case 'ringing':
        this.#apply({ type: 'remote-ringing' });
        return;
      case 'key-share':
        this.#acceptShare(signal.share);
        return;
      case 'accept':
        if (this.direction !== 'outgoing') return;
        this.#peerWantsDirect = signal.direct;
        if (!this.#keys) {
          await this.#fail('security', 'the callee accepted without a valid key share');
          return;
        }
        this.#apply({ type: 'remote-accept' });
        return;
      case 'reject':
        this.#apply({ type: 'remote-reject', reason: signal.reason });
        return;
      case 'hangup':
        if (signal.reason === 'remote-gone' && this.#heardWithin(HEARD_RECENTLY_MS)) {
          // The relay lost the peer's connection (or is going away), but the peer's media still
          // arrives: its liveness, not the relay's guess, decides when the call is over.
          this.#remoteGoneIgnored++;
          return;
        }
        if (signal.reason === 'remote-gone' && this.#liveness?.state === 'reconnecting') {
          // We hear nothing either (the peer's liveness gave up first, or the relay lost it):
          // for the person in the call that is one thing, the connection was lost.
          this.#connectionLost(this.#liveness.silentMs(this.#now()));
          return;
        }
        this.#apply({ type: 'remote-hangup', reason: signal.reason });
        return;
      case 'ice-candidate':
      case 'direct':
        this.#direct.onSignal(signal);
        return;
      case 'path-switch':
        this.#paths.onSwitchSignal(signal);
        return;
      case 'report':
        this.#stats.onPeerReport(signal);
        // How our media arrives at the peer is what our encoder must adapt to.
        this.#applyQuality(
          this.#quality.onReport(
            { lossPct: signal.lossPct, jitterMs: signal.jitterMs, rttMs: this.stats().rttMs ?? 0 },
            this.#now(),
            this.#sender?.nextSeq ?? 0,
          ),
        );
        return;
      case 'quality':
        this.#applyQuality(this.#quality.onSignal(signal, this.#now(), this.#sender?.nextSeq ?? 0));
        return;
      default:
        // A duplicate invite: nothing to do.
        return;
    }
  }

  /** The relay reported that the call cannot proceed (offline, unknown call...). */
  onCallError(reason: string): void {
    if (reason === 'offline') this.#apply({ type: 'offline' });
    else if (this.#state !== 'connected')
      this.#apply({ type: 'error', detail: `relay: ${reason}` });
  }

  relayLost(): void {
    this.#apply({ type: 'relay-lost' });
  }

  stats(): CallStatsSnapshot {
    const path = this.#paths.current;
    return this.#stats.snapshot({
      liveness: this.liveness,
      silentMs: this.#liveness?.silentMs(this.#now()) ?? 0,
      path,
      pathRttMs: (path ? this.#paths.get(path)?.rttMs() : null) ?? null,
      tier: this.#sender?.tier.id ?? null,
      sender: this.#sender?.stats ?? null,
      receiver: this.#receiver?.stats ?? null,
    });
  }

  /** Run a direct-path attempt for this call (the softphone builds it once the call is up). */
  startDirect(attempt: DirectAttempt): void {
    this.#direct.start(attempt);
  }

  get directAttempt(): DirectAttempt | null {
    return this.#direct.attempt;
  }

  #keysOrTimeout(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const offKeys = this.on('verified', done);
      const offEnd = this.on('ended', done);
      function done(): void {
        clearTimeout(timer);
        offKeys();
        offEnd();
        resolve();
      }
    });
  }

  #acceptShare(share: unknown): void {
    if (this.#keys) return;
    const result = this.#kx.accept(share);
    if (result.kind !== 'ok') {
      // A forged or mangled share (a relay playing games) must not end the exchange for the real one.
      this.#pendingPeerShare = result.kind;
      return;
    }
    this.#keys = result.keys;
    this.emit('verified', { sas: result.keys.sas });
    this.#maybeStartMedia();
  }

  #apply(event: CallEvent): void {
    const t = nextCallState(this.#state, event);
    if (!t) return;
    const before = this.#state;
    this.#state = t.state;
    if (t.state !== before) this.emit('state', t.state);
    if (t.state === 'connected' && before !== 'connected') {
      this.#connectedAt = this.#now();
      if (this.#ringTimer) clearTimeout(this.#ringTimer);
      this.#maybeStartMedia();
    }
    if (t.state === 'ended')
      this.#end(
        t.end ?? 'error',
        t.detail ?? (event.type === 'security' ? event.detail : undefined),
      );
  }

  #maybeStartMedia(): void {
    if (!this.#keys || this.#state !== 'connected' || this.#sender) return;
    const ciphers = createMediaCiphers(this.#keys, { now: () => Date.now() });
    this.#sender = new MediaSender({ sealer: ciphers.sealer, tier: DEFAULT_TIER });
    this.#sender.setMuted(this.#muted);
    this.#receiver = new MediaReceiver({ opener: ciphers.opener });
    this.#playout = new Ticker(20, (slot) => {
      const pcm = this.#receiver?.pull(slot);
      if (pcm) this.emit('audio', pcm);
    });
    this.#stats.start(this.#now());
    this.#statsTimer = setInterval(() => this.#everySecond(), STATS_INTERVAL_MS);
    this.#statsTimer.unref();
    this.#liveness = new CallLiveness(this.#now(), this.#ctx.liveness);
    this.#livenessTimer = setInterval(() => this.#livenessTick(), LIVENESS_TICK_MS);
    this.#livenessTimer.unref();
  }

  #heard(now: number): void {
    const l = this.#liveness;
    if (l) this.#applyLiveness(l.heard(now));
  }

  #heardWithin(ms: number): boolean {
    const l = this.#liveness;
    if (!l) return false;
    const now = this.#now();
    const direct = this.#direct.silenceMs();
    return l.silentMs(now) < ms || (direct !== null && direct < ms);
  }

  #livenessTick(): void {
    const l = this.#liveness;
    if (!l || this.#state !== 'connected') return;
    const now = this.#now();
    // Anything on the authenticated direct connection (media, its 200 ms pings) is the peer.
    const direct = this.#direct.silenceMs();
    if (direct !== null && direct < LIVENESS_TICK_MS * 2)
      this.#applyLiveness(l.heard(now - direct));
    this.#applyLiveness(l.tick(now));
  }

  #applyLiveness(outputs: LivenessOutput[]): void {
    for (const o of outputs) {
      switch (o.type) {
        case 'reconnecting':
          this.emit('liveness', { state: 'reconnecting', silentMs: round(o.silentMs) });
          break;
        case 'recovered':
          this.emit('liveness', { state: 'live', silentMs: round(o.silentMs) });
          break;
        case 'keepalive':
          this.#keepalive();
          break;
        case 'lost':
          this.#connectionLost(o.silentMs);
          return;
      }
    }
  }

  /**
   * Nothing went out for a while (the host feeds no audio): feed the encoder the silence it
   * missed, so DTX sends a comfort-noise keep-alive the peer authenticates like any frame.
   */
  #keepalive(): void {
    const sender = this.#sender;
    if (!sender || this.#state !== 'connected') return;
    const silence = new Int16Array(SLICE_SAMPLES);
    const reconnecting = this.#liveness?.state === 'reconnecting';
    for (let i = 0; i < KEEPALIVE_MAX_SLICES; i++) {
      const seq = sender.nextSeq;
      const packets = sender.push(silence);
      for (const p of packets) this.#sendPacket(p, seq, this.#direct.suspect, reconnecting);
      if (packets.length > 0) return;
    }
  }

  #connectionLost(silentMs: number): void {
    if (this.#state !== 'connected') return;
    // Tell the peer on every path, in case only its way to us is broken.
    void this.#direct.closeSaying(hangupCloseReason('remote-gone'));
    void this.#signal({ kind: 'hangup', reason: 'remote-gone' });
    this.#apply({ type: 'connection-lost', silentMs });
  }

  /** The peer closed the direct connection with a hang-up: as good as its hang-up signal. */
  #onPeerHangup(reason: string): void {
    const parsed = HangupReasonSchema.safeParse(reason);
    this.#apply({ type: 'remote-hangup', reason: parsed.success ? parsed.data : 'normal' });
  }

  #everySecond(): void {
    const r = this.#receiver?.stats ?? null;
    this.#stats.endInterval(this.#now(), this.#sender?.stats ?? null, r);
    const snapshot = this.stats();
    this.emit('stats', snapshot);
    if (r) {
      void this.#signal(this.#stats.report(snapshot, r, this.#paths.get('relay')?.rttMs() ?? null));
    }
  }

  #applyQuality(actions: QualityAction[]): void {
    for (const a of actions) {
      if (a.type === 'send') {
        void this.#signal(a.signal);
        continue;
      }
      this.#pendingTier = { tier: a.tier, atSeq: a.atSeq, reason: a.reason };
      this.#maybeSwitchTier();
    }
  }

  /** Tier changes take effect at an agreed frame, so both ends change their encoders in step. */
  #maybeSwitchTier(): void {
    const pending = this.#pendingTier;
    const sender = this.#sender;
    if (!pending || !sender || ((sender.nextSeq - pending.atSeq) | 0) < 0) return;
    this.#pendingTier = null;
    const tier = tierById(pending.tier);
    if (!tier || tier.id === sender.tier.id) return;
    sender.setTier(tier);
    this.emit('quality', {
      tier: tier.id,
      bitrateKbps: tier.bitrateBps / 1000,
      reason: pending.reason,
    });
  }

  async #fail(kind: 'security' | 'error', detail: string): Promise<void> {
    await this.#signal({ kind: 'hangup', reason: kind });
    this.#apply(kind === 'security' ? { type: 'security', detail } : { type: 'error', detail });
  }

  /** Wait for `work` at most `ms` (a dead relay link may never answer). */
  async #within(work: Promise<unknown>, ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      work.catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  async #signal(signal: CallSignal): Promise<void> {
    try {
      await this.#ctx.signal(signal);
    } catch {
      // The relay link is down; the call notices through relayLost or its own timers.
    }
  }

  #end(reason: CallEndInfo['reason'], detail?: string): void {
    if (this.#endInfo) return;
    if (this.#ringTimer) clearTimeout(this.#ringTimer);
    if (this.#statsTimer) clearInterval(this.#statsTimer);
    if (this.#livenessTimer) clearInterval(this.#livenessTimer);
    this.#direct.close();
    this.#playout?.stop();
    this.#paths.close();
    const r = this.#receiver?.stats;
    this.#endInfo = {
      reason,
      ...(detail
        ? { detail }
        : this.#pendingPeerShare && reason === 'security'
          ? { detail: `peer key share: ${String(this.#pendingPeerShare)}` }
          : {}),
      framesSent: this.#sender?.stats.packetsSent ?? 0,
      framesReceived: r?.packetsReceived ?? 0,
      framesConcealed: r?.framesConcealed ?? 0,
      durationS: this.#connectedAt === null ? 0 : round((this.#now() - this.#connectedAt) / 1000),
    };
    // A codec whose teardown throws (opusscript's WASM heap can be corrupt by then) must not
    // keep the call from ending: the host would show it "in call" forever.
    for (const release of [
      () => this.#sender?.close(),
      () => this.#receiver?.close(),
      () => this.#kx.dispose(),
    ]) {
      try {
        release();
      } catch {
        this.#teardownErrors++;
      }
    }
    this.emit('ended', this.#endInfo);
  }
}
