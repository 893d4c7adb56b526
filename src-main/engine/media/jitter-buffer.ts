// Adaptive jitter buffer (NetEq-like, pure logic, clock passed in): orders frames, drops
// duplicates and frames that come after their slot, and decides on each playout tick whether
// to play a frame, conceal a gap, or stay silent. The delay target follows measured jitter:
// the relative transit delay of arriving frames (transit minus the fastest transit in a sliding
// window), as the larger of a high quantile and a peak that rises at once and decays slowly.
// The actual delay grows by waiting (concealing without advancing) when the next frame is
// missing and nothing later has arrived (a stall) or the delay is below target (possible
// reordering), and shrinks by dropping a frame now and then when it is well above target.
// Why one file of about 560 lines: the playout decisions and the delay estimate that steers them
// (DelayEstimator, its only helper) are one algorithm, read and tested as one.

import { SAMPLE_RATE } from './media-packet.ts';
import type { MediaFrame } from './media-packet.ts';

export interface JitterBufferOptions {
  /** Floor of the target delay. */
  minDelayMs?: number;
  /** Ceiling of the target delay; a missing frame is never waited for longer than this. */
  maxDelayMs?: number;
  /** Target used until enough arrivals have been measured. */
  initialDelayMs?: number;
  /** Sliding window of arrivals for the fastest transit and the quantile. */
  windowMs?: number;
  /** Quantile of relative delay the target covers. */
  quantile?: number;
  /** A new delay peak holds the target up this long before decaying. */
  peakHoldMs?: number;
  /** Half-life of the peak's decay towards the quantile. */
  peakHalfLifeMs?: number;
  /** How far above target (plus one frame) the delay must be before a frame is dropped. */
  shrinkMarginMs?: number;
  /**
   * The same margin while no delay floor is set (no loss seen, so no FEC copy to wait for): the
   * delay may come down to about one frame above target.
   */
  cleanShrinkMarginMs?: number;
  /** At most one shrink drop per this many ms, so shrinking stays slow and inaudible. */
  shrinkIntervalMs?: number;
  /** Frames held at most; beyond it the oldest is dropped. */
  maxFrames?: number;
  /** A timestamp gap larger than this between consecutive frames restarts playout. */
  resyncGapMs?: number;
  /** A change in transit this large means the sender's clock or stream restarted. */
  clockJumpMs?: number;
  /** A sequence number this far from the newest one means the sender's stream restarted. */
  maxSeqJump?: number;
}

const DEFAULTS: Required<JitterBufferOptions> = {
  minDelayMs: 20,
  maxDelayMs: 300,
  initialDelayMs: 40,
  windowMs: 2000,
  quantile: 0.95,
  peakHoldMs: 1000,
  peakHalfLifeMs: 3000,
  shrinkMarginMs: 20,
  cleanShrinkMarginMs: 20,
  shrinkIntervalMs: 500,
  maxFrames: 256,
  resyncGapMs: 1000,
  clockJumpMs: 1000,
  maxSeqJump: 3000,
};

/** Arrivals measured before the target stops using initialDelayMs as its floor. */
const WARMUP_ARRIVALS = 10;
const DEFAULT_FRAME_SAMPLES = 960;
const MAX_FRAME_SAMPLES = 2880 * 2;
const PLAYED_MEMORY = 512;
const MS_PER_SAMPLE = 1000 / SAMPLE_RATE;

export type PlayoutItem =
  | {
      kind: 'frame';
      frame: MediaFrame;
      durationSamples: number;
      /** Sequence numbers dropped just before this frame to shrink the delay. */
      dropped: number[];
    }
  | {
      kind: 'conceal';
      durationSamples: number;
    }
  | {
      /** Nothing to play: before the first frame, or during DTX (comfort noise may be mixed). */
      kind: 'silence';
      durationSamples: number;
    };

export type PushOutcome = 'accepted' | 'duplicate' | 'late' | 'invalid';

export interface JitterBufferStats {
  played: number;
  concealed: number;
  silence: number;
  /** Primary frames that arrived after their slot had passed. */
  late: number;
  /** Redundant copies that arrived after their slot had been concealed. */
  recoveredLate: number;
  /** Copies of a frame already held or already played (redundant copies included). */
  duplicates: number;
  droppedOverflow: number;
  droppedShrink: number;
  /** Played frames that came from redundancy. */
  recovered: number;
  invalid: number;
  resyncs: number;
  targetDelayMs: number;
  currentDelayMs: number;
  bufferedFrames: number;
}

interface Held {
  frame: MediaFrame;
  useq: number;
  uts: number;
  arrivalMs: number;
  epoch: number;
}

const TWO32 = 0x1_0000_0000;

/** Nearest value to `ref` (an unwrapped number) whose low 32 bits are `v`. */
function unwrap(v: number, ref: number): number {
  const refLow = ((ref % TWO32) + TWO32) % TWO32;
  return ref + ((v - refLow) | 0);
}

function isU32(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < TWO32;
}

/** Relative-delay estimator: keeps transit samples (arrival ms minus media time ms). */
class DelayEstimator {
  private arrivals: { at: number; transit: number }[] = [];
  private lastBase: number | undefined;
  private peakTransit = -Infinity;
  private peakAt = 0;
  private measured = 0;
  /** Bumped when the sender's clock restarts; frames keep the epoch they were measured in. */
  epoch = 0;
  /** The base of the previous epoch, for frames of the old clock still held. */
  prevBase: number | undefined;

  constructor(private readonly o: Required<JitterBufferOptions>) {}

  record(transit: number, now: number): void {
    this.prune(now);
    this.arrivals.push({ at: now, transit });
    if (this.arrivals.length > 4096) this.arrivals.shift();
    if (this.lastBase === undefined || transit < this.lastBase) this.lastBase = transit;
    if (transit > this.peak(now)) {
      this.peakTransit = transit;
      this.peakAt = now;
    }
    this.measured++;
  }

  /** Forget everything but the current target (stream or clock restarted). */
  reset(transit: number, now: number, keepTargetMs: number): void {
    this.prevBase = this.base(now);
    this.epoch++;
    this.arrivals = [];
    this.lastBase = transit;
    this.peakTransit = transit + keepTargetMs;
    this.peakAt = now;
  }

  private prune(now: number): void {
    const cutoff = now - this.o.windowMs;
    let n = 0;
    while (n < this.arrivals.length && (this.arrivals[n]?.at ?? Infinity) < cutoff) n++;
    if (n > 0) this.arrivals.splice(0, n);
  }

  seedBase(transit: number): void {
    if (this.lastBase === undefined) this.lastBase = transit;
  }

  base(now: number): number | undefined {
    this.prune(now);
    if (this.arrivals.length === 0) return this.lastBase;
    let min = Infinity;
    for (const a of this.arrivals) if (a.transit < min) min = a.transit;
    this.lastBase = min;
    return min;
  }

  private quantileTransit(): number | undefined {
    if (this.arrivals.length === 0) return undefined;
    const sorted = this.arrivals.map((a) => a.transit).sort((a, b) => a - b);
    const idx = Math.min(
      sorted.length - 1,
      Math.max(0, Math.ceil(this.o.quantile * sorted.length) - 1),
    );
    return sorted[idx];
  }

  private peak(now: number): number {
    const held = now - this.peakAt - this.o.peakHoldMs;
    if (held <= 0) return this.peakTransit;
    const q = this.quantileTransit() ?? this.lastBase ?? this.peakTransit;
    if (this.peakTransit <= q) return this.peakTransit;
    return q + (this.peakTransit - q) * Math.pow(0.5, held / this.o.peakHalfLifeMs);
  }

  targetMs(now: number, floorMs: number): number {
    const base = this.base(now);
    let floor = floorMs;
    if (this.measured < WARMUP_ARRIVALS) floor = Math.max(floor, this.o.initialDelayMs);
    if (base === undefined) return Math.min(this.o.maxDelayMs, floor);
    const q = this.quantileTransit() ?? base;
    const top = Math.max(q, this.peak(now));
    const rel = Number.isFinite(top) ? top - base : 0;
    return Math.min(this.o.maxDelayMs, Math.max(floor, rel));
  }
}

export class JitterBuffer {
  private readonly o: Required<JitterBufferOptions>;
  private readonly est: DelayEstimator;
  private extraMinMs = 0;

  /** Held frames by unwrapped seq, and their keys kept sorted. */
  private readonly held = new Map<number, Held>();
  private order: number[] = [];

  private seqRef: number | undefined;
  /** The sequence reference of the stream before the last restart, to reject its stragglers. */
  private oldSeqRef: number | undefined;
  private tsRef = 0;
  /** Highest unwrapped seq whose slot is over (played, dropped or concealed through). */
  private passedSeq: number | undefined;
  private readonly playedSet = new Set<number>();
  private readonly playedQueue: number[] = [];

  private mode: 'idle' | 'buffering' | 'playing' = 'idle';
  private bufferingKind: 'silence' | 'conceal' = 'silence';
  /** Unwrapped media timestamp of the next audio to play. */
  private cursorTs = 0;
  private cursorEpoch = 0;
  private lastDur = DEFAULT_FRAME_SAMPLES;
  private lastPlayedDtx = false;
  private lastShrinkMs = -Infinity;
  private lastNow = 0;

  private readonly counters = {
    played: 0,
    concealed: 0,
    silence: 0,
    late: 0,
    recoveredLate: 0,
    duplicates: 0,
    droppedOverflow: 0,
    droppedShrink: 0,
    recovered: 0,
    invalid: 0,
    resyncs: 0,
  };
  private currentDelayMs = 0;

  constructor(options: JitterBufferOptions = {}) {
    this.o = { ...DEFAULTS, ...options };
    if (!(this.o.minDelayMs >= 0 && this.o.maxDelayMs >= this.o.minDelayMs))
      throw new RangeError('need 0 <= minDelayMs <= maxDelayMs');
    if (!(this.o.quantile > 0 && this.o.quantile <= 1)) throw new RangeError('quantile in (0, 1]');
    this.est = new DelayEstimator(this.o);
  }

  /**
   * Raise the delay floor, e.g. to the span of the peer's FEC offsets (depth 2 at 20 ms: 40 ms)
   * so that redundant copies arrive before the slot of the frame they replace.
   */
  setMinimumDelay(ms: number): void {
    this.extraMinMs = Math.min(this.o.maxDelayMs, Math.max(0, Number.isFinite(ms) ? ms : 0));
  }

  targetDelayMs(nowMs: number = this.lastNow): number {
    return this.est.targetMs(nowMs, Math.max(this.o.minDelayMs, this.extraMinMs));
  }

  get stats(): JitterBufferStats {
    return {
      ...this.counters,
      targetDelayMs: this.targetDelayMs(),
      currentDelayMs: this.currentDelayMs,
      bufferedFrames: this.held.size,
    };
  }

  push(frame: MediaFrame, arrivalMs: number): PushOutcome {
    if (
      !isU32(frame.seq) ||
      !isU32(frame.timestamp) ||
      !Number.isInteger(frame.durationSamples) ||
      frame.durationSamples <= 0 ||
      frame.durationSamples > MAX_FRAME_SAMPLES ||
      !(frame.payload instanceof Uint8Array) ||
      !Number.isFinite(arrivalMs)
    ) {
      this.counters.invalid++;
      return 'invalid';
    }
    if (arrivalMs > this.lastNow) this.lastNow = arrivalMs;
    const recovered = frame.recovered === true;

    if (this.seqRef === undefined) {
      this.seqRef = frame.seq;
      this.tsRef = frame.timestamp;
    }
    let useq = unwrap(frame.seq, this.seqRef);
    if (Math.abs(useq - this.seqRef) > this.o.maxSeqJump) {
      const old = this.oldSeqRef;
      if (
        recovered ||
        (old !== undefined && Math.abs(unwrap(frame.seq, old) - old) <= this.o.maxSeqJump)
      ) {
        // A copy alone does not prove a restart (its packet's primary will), and a straggler
        // of the previous stream must not flip us back to it.
        this.counters.late++;
        return 'late';
      }
      this.restart(frame);
      useq = frame.seq;
      this.est.reset(arrivalMs - frame.timestamp * MS_PER_SAMPLE, arrivalMs, this.targetDelayMs());
    }
    const uts = unwrap(frame.timestamp, this.tsRef);
    const transit = arrivalMs - uts * MS_PER_SAMPLE;

    const isPlayed = this.playedSet.has(useq);
    if (isPlayed || this.held.has(useq)) {
      this.counters.duplicates++;
      return 'duplicate';
    }

    let epoch = this.est.epoch;
    let measure = true;
    const base = this.est.base(arrivalMs);
    if (base !== undefined && Math.abs(transit - base) > this.o.clockJumpMs) {
      if (!recovered && useq > this.seqRef) {
        // The newest frame moved the transit by seconds: the sender's clock jumped, or the
        // path stalled for that long. Either way the old measurements no longer apply.
        this.est.reset(transit, arrivalMs, this.targetDelayMs(arrivalMs));
        epoch = this.est.epoch;
      } else {
        // An older frame far off the current base: a straggler of the previous clock, or an
        // outlier. Never a sample, and timed by the previous base when it fits that one.
        measure = false;
        const prev = this.est.prevBase;
        if (prev !== undefined && Math.abs(transit - prev) <= this.o.clockJumpMs) epoch--;
      }
    }
    if (measure) {
      if (!recovered) this.est.record(transit, arrivalMs);
      else this.est.seedBase(transit);
    }

    if (this.passedSeq !== undefined && useq <= this.passedSeq) {
      if (recovered) this.counters.recoveredLate++;
      else this.counters.late++;
      return 'late';
    }

    this.insert({ frame, useq, uts, arrivalMs, epoch });
    if (useq > this.seqRef) {
      this.seqRef = useq;
      this.tsRef = uts;
    }
    while (this.held.size > this.o.maxFrames) {
      const oldest = this.lowest();
      if (oldest === undefined) break;
      this.skip(oldest, true);
      this.counters.droppedOverflow++;
    }
    return 'accepted';
  }

  /** Call once per playout tick (each time the previous item's audio has been consumed). */
  pull(nowMs: number): PlayoutItem {
    if (nowMs > this.lastNow) this.lastNow = nowMs;
    const target = this.targetDelayMs(nowMs);
    if (this.mode !== 'playing') return this.pullBuffering(nowMs, target);

    const tol = this.lastDur / 2;
    const resyncGap = (this.o.resyncGapMs / MS_PER_SAMPLE) | 0;
    let f = this.lowest();
    if (
      f !== undefined &&
      Math.abs(f.uts - this.cursorTs) > resyncGap &&
      f.useq === (this.passedSeq ?? f.useq) + 1 &&
      !this.lastPlayedDtx
    ) {
      // The very next frame with a far-off timestamp: the sender's clock jumped but the audio
      // is continuous, so follow the new clock without a gap.
      this.counters.resyncs++;
      this.cursorTs = f.uts;
      this.cursorEpoch = f.epoch;
    }
    // Frames whose time was already concealed through: too late to play.
    while (f !== undefined && f.uts < this.cursorTs - tol) {
      if (f.uts < this.cursorTs - resyncGap) return this.resync(nowMs, target);
      this.skip(f, false);
      if (f.frame.recovered === true) this.counters.recoveredLate++;
      else this.counters.late++;
      f = this.lowest();
    }
    if (f !== undefined && f.uts - this.cursorTs > resyncGap) return this.resync(nowMs, target);

    const dCur = this.delayAt(this.cursorTs, nowMs);
    this.currentDelayMs = dCur;
    if (f !== undefined && f.uts <= this.cursorTs + tol) return this.play(f, nowMs, target, true);

    // The audio due now is missing.
    if (this.lastPlayedDtx) {
      // The sender went quiet on purpose: re-adjust the delay at the next talkspurt.
      this.mode = 'buffering';
      this.bufferingKind = 'silence';
      return this.pullBuffering(nowMs, target);
    }
    if (f === undefined) {
      // Nothing later has arrived either: more likely a stall than a loss, so wait (conceal
      // without moving the cursor, which adds a frame of delay) up to the ceiling.
      if (dCur > this.o.maxDelayMs + this.lastDur * MS_PER_SAMPLE)
        return this.resync(nowMs, target);
      return this.conceal();
    }
    // A later frame is here, so the missing one is lost or reordered: wait for it only while
    // the delay is below target, then give up on its slot.
    if (dCur >= target) this.cursorTs += this.lastDur;
    return this.conceal();
  }

  private pullBuffering(nowMs: number, target: number): PlayoutItem {
    let f = this.lowest();
    const silent = this.mode === 'idle' || this.bufferingKind === 'silence';
    const idle = (): PlayoutItem => {
      if (!silent) return this.conceal();
      this.counters.silence++;
      return { kind: 'silence', durationSamples: this.lastDur };
    };
    if (f === undefined) return idle();
    // After a stall or a pause, start from the freshest frames rather than play stale audio.
    let next = this.second();
    while (
      f !== undefined &&
      next !== undefined &&
      this.delayAt(f.uts, nowMs, f) > target + f.frame.durationSamples * MS_PER_SAMPLE
    ) {
      this.skip(f, false);
      if (f.frame.recovered === true) this.counters.recoveredLate++;
      else this.counters.late++;
      f = next;
      next = this.second();
    }
    if (f === undefined || this.delayAt(f.uts, nowMs, f) < target) return idle();
    this.mode = 'playing';
    return this.play(f, nowMs, target, false);
  }

  private play(f: Held, nowMs: number, target: number, mayShrink: boolean): PlayoutItem {
    const dropped: number[] = [];
    let cur = f;
    if (mayShrink && nowMs - this.lastShrinkMs >= this.o.shrinkIntervalMs) {
      const next = this.second();
      const dur = cur.frame.durationSamples;
      if (
        next !== undefined &&
        next.useq === cur.useq + 1 &&
        Math.abs(next.uts - (cur.uts + dur)) <= dur / 2 &&
        this.delayAt(cur.uts, nowMs, cur) - target >
          (this.extraMinMs > 0 ? this.o.shrinkMarginMs : this.o.cleanShrinkMarginMs) +
            dur * MS_PER_SAMPLE
      ) {
        this.skip(cur, true);
        this.counters.droppedShrink++;
        this.lastShrinkMs = nowMs;
        dropped.push(cur.frame.seq);
        cur = next;
      }
    }
    this.currentDelayMs = this.delayAt(cur.uts, nowMs, cur);
    this.skip(cur, true);
    this.playedSet.add(cur.useq);
    this.playedQueue.push(cur.useq);
    if (this.playedQueue.length > PLAYED_MEMORY) {
      const old = this.playedQueue.shift();
      if (old !== undefined) this.playedSet.delete(old);
    }
    this.lastDur = cur.frame.durationSamples;
    this.lastPlayedDtx = cur.frame.dtx === true;
    this.counters.played++;
    if (cur.frame.recovered === true) this.counters.recovered++;
    return { kind: 'frame', frame: cur.frame, durationSamples: cur.frame.durationSamples, dropped };
  }

  private conceal(): PlayoutItem {
    this.counters.concealed++;
    return { kind: 'conceal', durationSamples: this.lastDur };
  }

  private resync(nowMs: number, target: number): PlayoutItem {
    this.counters.resyncs++;
    this.mode = 'buffering';
    this.bufferingKind = this.lastPlayedDtx ? 'silence' : 'conceal';
    return this.pullBuffering(nowMs, target);
  }

  /** The sender's sequence space restarted: forget the old stream, keep the delay target. */
  private restart(frame: MediaFrame): void {
    this.counters.resyncs++;
    this.held.clear();
    this.order = [];
    this.passedSeq = undefined;
    this.playedSet.clear();
    this.playedQueue.length = 0;
    this.oldSeqRef = this.seqRef;
    this.seqRef = frame.seq;
    this.tsRef = frame.timestamp;
    if (this.mode !== 'idle') {
      this.mode = 'buffering';
      this.bufferingKind = this.lastPlayedDtx ? 'silence' : 'conceal';
    }
  }

  /** How long audio at media time `uts` has waited if it plays now. */
  private delayAt(uts: number, nowMs: number, f?: Held): number {
    const epoch = f !== undefined ? f.epoch : this.cursorEpoch;
    const base =
      (epoch !== this.est.epoch ? this.est.prevBase : undefined) ??
      this.est.base(nowMs) ??
      (f !== undefined ? f.arrivalMs - f.uts * MS_PER_SAMPLE : undefined);
    if (base === undefined) return 0;
    return nowMs - base - uts * MS_PER_SAMPLE;
  }

  /** Removes `f`, marks its slot as over and, when `advance`, moves the cursor past it. */
  private skip(f: Held, advance: boolean): void {
    this.held.delete(f.useq);
    const i = this.order.indexOf(f.useq);
    if (i >= 0) this.order.splice(i, 1);
    if (this.passedSeq === undefined || f.useq > this.passedSeq) this.passedSeq = f.useq;
    if (advance) {
      this.cursorTs = f.uts + f.frame.durationSamples;
      this.cursorEpoch = f.epoch;
    }
  }

  private insert(h: Held): void {
    this.held.set(h.useq, h);
    let lo = 0;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.order[mid] ?? 0) < h.useq) lo = mid + 1;
      else hi = mid;
    }
    this.order.splice(lo, 0, h.useq);
  }

  private lowest(): Held | undefined {
    const k = this.order[0];
    return k === undefined ? undefined : this.held.get(k);
  }

  private second(): Held | undefined {
    const k = this.order[1];
    return k === undefined ? undefined : this.held.get(k);
  }
}
