// The direct path of one call over its whole life: the attempts that open it (DirectAttempt, with
// the peer's early signals held until one runs), the connection that carries it
// (DirectMediaPath), its supervision (a 100 ms loop that feeds the path's silence to PathState
// and carries out the verdict through MediaPaths: fall back, come back, abandon) and the retries
// after a connection is lost. The call's life stays in Call; this asks it only what it must.
import type { CallSignal, MediaPath } from '../../../src-shared/call-signals.ts';
import type { DirectAttempt, DirectResult } from '../nat/direct-connector.ts';
import { round } from './call-stats.ts';
import { DirectMediaPath } from './direct-media-path.ts';
import { hangupFromCloseReason } from './media-transport.ts';
import { PathState, type PathTiming } from './path-state.ts';
import type { CallState, DirectOutcome } from './softphone-api.ts';
import type { Scheduler } from './ticker.ts';

const SUPERVISION_INTERVAL_MS = 100;
/**
 * A peer that hangs up closes the direct connection just before its hang-up signal arrives over
 * the relay: give that a moment before calling it a lost path.
 */
const CLOSE_GRACE_MS = 300;
const MAX_EARLY_SIGNALS = 64;

/** What the direct path needs of the rest of the call. */
export interface DirectPathOptions {
  /** Where the direct connection joins the call's other paths. */
  paths: {
    readonly agreedPath: MediaPath;
    attach(transport: DirectMediaPath, reason: string): void;
    detach(kind: 'direct', reason?: string): void;
    directReady(): void;
    propose(path: 'direct', reason: string): void;
    fallback(reason: string): void;
    tick(): void;
  };
  localIsTieWinner: boolean;
  callState(): CallState;
  /** Both sides asked for a direct path (invite and accept). */
  peerWantsDirect(): boolean;
  /** A fresh attempt for a retry (absent or null: no retries). */
  createAttempt?: () => DirectAttempt | null;
  onPacket(packet: Uint8Array): void;
  /** The peer closed the direct connection saying it hangs up (authenticated by the connection). */
  onPeerHangup?(reason: string): void;
  /** The outcome of each attempt. */
  onOutcome(outcome: DirectOutcome): void;
  scheduler: Scheduler;
  timing?: PathTiming;
}

export class DirectPath {
  readonly #o: DirectPathOptions;
  readonly #state: PathState;
  #attempt: DirectAttempt | null = null;
  #path: DirectMediaPath | null = null;
  #early: CallSignal[] = [];
  #supervision: { cancel(): void } | null = null;
  #retryTimer: { cancel(): void } | null = null;

  constructor(opts: DirectPathOptions) {
    this.#o = opts;
    this.#state = new PathState(opts.timing);
  }

  /** The latest attempt (finished or not). */
  get attempt(): DirectAttempt | null {
    return this.#attempt;
  }

  /** A direct connection is carrying (or may again carry) media. */
  get connected(): boolean {
    return this.#path !== null;
  }

  /** Milliseconds since the peer was last heard on the direct connection (null: none open). */
  silenceMs(): number | null {
    return this.#path?.silenceMs() ?? null;
  }

  /**
   * The call is ending: stop supervising and retrying, and close the direct connection now with
   * `closeReason` (a hang-up the peer reads even when the relay is gone).
   */
  closeSaying(closeReason: string): Promise<void> {
    const path = this.#path;
    this.close();
    if (!path) return Promise.resolve();
    // Closed here, and awaited: a host that exits right after the call ends must not cut off
    // the close before it leaves (the peer would see silence, not a hang-up).
    const said = path.closeAndWait(closeReason);
    this.#o.paths.detach('direct', closeReason);
    return said;
  }

  /** Healthy but quiet for a moment: every packet should also go over the relay. */
  get suspect(): boolean {
    return this.#path !== null && this.#state.isSuspect(this.#path.silenceMs());
  }

  /** Run an attempt, unless one is under way or the call is over. */
  start(attempt: DirectAttempt): void {
    if ((this.#attempt && !this.#attempt.result) || this.#o.callState() === 'ended') return;
    this.#attempt = attempt;
    attempt.on('done', (r) => this.#onDone(r));
    attempt.start();
    for (const s of this.#early.splice(0)) attempt.onSignal(s);
  }

  /** An `ice-candidate` or `direct` signal from the peer. */
  onSignal(signal: CallSignal): void {
    const attempt = this.#attempt;
    if (
      attempt?.result &&
      !this.#state.healthy &&
      signal.kind === 'ice-candidate' &&
      signal.candidate
    ) {
      // The peer is retrying a direct path: drop our silent connection, if any, and join its
      // attempt with a fresh one of our own.
      if (this.#path) this.#drop();
      this.#retry();
    }
    if (this.#attempt && !this.#attempt.result) this.#attempt.onSignal(signal);
    else if (!this.#attempt && this.#early.length < MAX_EARLY_SIGNALS) this.#early.push(signal);
  }

  /** The call is over: stop supervising and retrying, abort an attempt under way. */
  close(): void {
    this.#path = null;
    this.#supervision?.cancel();
    this.#retryTimer?.cancel();
    this.#attempt?.abort('call ended');
  }

  #onDone(r: DirectResult): void {
    if (!r.ok) {
      this.#o.onOutcome({
        ok: false,
        reason: r.reason,
        interception: r.interception,
        elapsedMs: round(r.elapsedMs),
      });
      // Keep trying at a backoff for the whole call (issue 11): a call that started on the relay
      // may still go direct once a stale conntrack entry expires or the network changes. Never
      // after a possible interception: that path is not to be trusted.
      if (!r.interception) this.#scheduleRetry();
      return;
    }
    if (this.#o.callState() === 'ended') {
      void r.connection.close('call over');
      return;
    }
    const path: DirectMediaPath = new DirectMediaPath({
      connection: r.connection,
      onPacket: (p) => this.#o.onPacket(p),
      onClosed: (reason, remote) => {
        const hangup = remote ? hangupFromCloseReason(reason) : null;
        if (hangup !== null && this.#path === path && this.#o.callState() !== 'ended') {
          this.#drop();
          this.#o.onPeerHangup?.(hangup);
          return;
        }
        this.#o.scheduler.setTimeout(() => {
          if (this.#path === path && this.#o.callState() !== 'ended')
            this.#lost(`direct connection closed: ${reason}`);
        }, CLOSE_GRACE_MS);
      },
    });
    this.#path = path;
    this.#state.up();
    this.#o.paths.attach(path, 'direct path up');
    this.#o.onOutcome({
      ok: true,
      reason: `authenticated ${r.candidateType} ${r.remote.host}:${r.remote.port}`,
      interception: false,
      elapsedMs: round(r.elapsedMs),
      sinceFirstCandidateMs: round(r.sinceFirstCandidateMs),
    });
    this.#o.paths.directReady();
    if (this.#o.localIsTieWinner) this.#o.paths.propose('direct', 'direct path authenticated');
    this.#startSupervision();
  }

  #startSupervision(): void {
    if (this.#supervision) return;
    const step = () => {
      this.#supervision = this.#o.scheduler.setTimeout(step, SUPERVISION_INTERVAL_MS);
      this.#supervise();
    };
    this.#supervision = this.#o.scheduler.setTimeout(step, SUPERVISION_INTERVAL_MS);
  }

  /** Liveness of the direct connection, and its return after an outage. */
  #supervise(): void {
    const path = this.#path;
    if (path) {
      const silence = path.silenceMs();
      const verdict = this.#state.observe(silence, this.#o.scheduler.now());
      if (verdict?.type === 'outage') {
        // Keep the connection: QUIC survives an outage, and the path may come back.
        this.#o.paths.fallback(`direct path silent for ${Math.round(silence)} ms`);
      } else if (verdict?.type === 'recovered') {
        this.#o.paths.directReady();
        if (this.#o.localIsTieWinner) this.#o.paths.propose('direct', 'direct path answers again');
      } else if (verdict?.type === 'abandoned') {
        this.#lost(`direct path silent for ${Math.round(silence)} ms`);
      }
    }
    this.#o.paths.tick();
  }

  /** Forget the direct connection (closing it) without moving media. */
  #drop(): boolean {
    this.#path = null;
    this.#o.paths.detach('direct');
    return this.#state.down();
  }

  /** The direct connection is gone for good: back to the relay, and try again later. */
  #lost(reason: string): void {
    const wasHealthy = this.#drop();
    if (wasHealthy || this.#o.paths.agreedPath === 'direct') this.#o.paths.fallback(reason);
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (
      this.#retryTimer ||
      this.#o.callState() !== 'connected' ||
      !this.#o.peerWantsDirect() ||
      !this.#o.createAttempt
    )
      return;
    this.#retryTimer = this.#o.scheduler.setTimeout(() => {
      this.#retryTimer = null;
      this.#retry();
    }, this.#state.takeRetryDelay());
  }

  #retry(): void {
    if (this.#o.callState() !== 'connected' || this.#path) return;
    if (this.#attempt && !this.#attempt.result) return;
    const attempt = this.#o.createAttempt?.();
    if (attempt) this.start(attempt);
  }
}
