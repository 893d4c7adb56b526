// Seeded, reproducible packet-fate model for the userspace impairment hop (the kernel here has
// no netem): independent and Gilbert-Elliott bursty loss, delay, jitter, reordering and
// duplication. Pure: no clock and no I/O; the caller passes the arrival time of each packet.
import { z } from 'zod';

/** mulberry32: tiny, fast, good enough for test traffic; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// splitmix32 step, to derive one independent stream per effect from one seed.
function splitmix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

const pct = z.number().min(0).max(100);
const ms = z.number().min(0).max(60_000);

/** Gilbert-Elliott: a two-state Markov chain stepped once per packet. */
export const burstSchema = z.strictObject({
  /** p: chance per packet, in the good state, of moving to the bad state. */
  enterPct: pct,
  /** r: chance per packet, in the bad state, of moving back to good. Mean bad run = 100/r. */
  exitPct: pct.refine((v) => v > 0, 'exitPct must be > 0 or the bad state never ends'),
  /** Loss while in the bad state (1 - h in the literature); default 100. */
  badLossPct: pct.default(100),
  /** Loss while in the good state (1 - k); default 0. */
  goodLossPct: pct.default(0),
});

// Field types without defaults: a patch must name only what it changes (zod 4 would fill the
// defaults into a .partial() of the defaulted schema and silently reset the other knobs).
const fields = {
  /** Independent (Bernoulli) loss, applied on top of any burst loss. */
  lossPct: pct,
  burst: burstSchema.nullable(),
  delayMs: ms,
  /** Uniform: delay ± jitter; normal: standard deviation = jitter. Clamped at zero delay. */
  jitterMs: ms,
  jitterDist: z.enum(['uniform', 'normal']),
  /** Jitter keeps FIFO order (a queue does); only this knob reorders, by holding a packet back. */
  reorderPct: pct,
  reorderDelayMs: ms,
  duplicatePct: pct,
};

/** Every rate is a percentage, every duration milliseconds; JSON on the hop's stdin uses these keys. */
export const impairmentParamsSchema = z.strictObject({
  lossPct: fields.lossPct.default(0),
  burst: fields.burst.default(null),
  delayMs: fields.delayMs.default(0),
  jitterMs: fields.jitterMs.default(0),
  jitterDist: fields.jitterDist.default('uniform'),
  reorderPct: fields.reorderPct.default(0),
  reorderDelayMs: fields.reorderDelayMs.default(20),
  duplicatePct: fields.duplicatePct.default(0),
});

export type ImpairmentParams = z.output<typeof impairmentParamsSchema>;
export type ImpairmentParamsInput = z.input<typeof impairmentParamsSchema>;
export const impairmentPatchSchema = z.strictObject(fields).partial();
export type ImpairmentPatch = z.input<typeof impairmentPatchSchema>;

export interface PacketFate {
  drop: boolean;
  /** Empty when dropped; two entries when duplicated. Never earlier than the arrival time. */
  deliverAtMs: number[];
}

export interface ImpairmentCounters {
  packets: number;
  dropped: number;
  droppedRandom: number;
  droppedBurst: number;
  delivered: number;
  duplicated: number;
  reordered: number;
  /** Packets that met the Gilbert-Elliott chain in its bad state, and entries into it. */
  badStatePackets: number;
  badStateEntries: number;
}

const zeroCounters = (): ImpairmentCounters => ({
  packets: 0,
  dropped: 0,
  droppedRandom: 0,
  droppedBurst: 0,
  delivered: 0,
  duplicated: 0,
  reordered: 0,
  badStatePackets: 0,
  badStateEntries: 0,
});

export class ImpairmentModel {
  private p: ImpairmentParams;
  // One stream per effect, so changing one knob does not reshuffle the others' decisions.
  private readonly rLoss: () => number;
  private readonly rBurst: () => number;
  private readonly rBurstLoss: () => number;
  private readonly rJitter: () => number;
  private readonly rReorder: () => number;
  private readonly rDup: () => number;
  private bad = false;
  private lastInOrderAt = -Infinity;
  private spareNormal: number | null = null;
  private c = zeroCounters();

  constructor(params: ImpairmentParamsInput = {}, seed = 1) {
    this.p = impairmentParamsSchema.parse(params);
    let s = seed >>> 0;
    const next = (): (() => number) => mulberry32((s = splitmix32(s)));
    this.rLoss = next();
    this.rBurst = next();
    this.rBurstLoss = next();
    this.rJitter = next();
    this.rReorder = next();
    this.rDup = next();
  }

  get params(): ImpairmentParams {
    return structuredClone(this.p);
  }

  /** Merges a patch; throws (zod) on invalid values, leaving the old parameters in force. */
  setParams(patch: ImpairmentPatch): ImpairmentParams {
    const parsed = impairmentPatchSchema.parse(patch);
    const merged: Record<string, unknown> = { ...this.p };
    for (const [k, v] of Object.entries(parsed)) if (v !== undefined) merged[k] = v;
    this.p = impairmentParamsSchema.parse(merged);
    if (this.p.burst === null) this.bad = false;
    return this.params;
  }

  counters(): ImpairmentCounters {
    return { ...this.c };
  }

  resetCounters(): void {
    this.c = zeroCounters();
  }

  decide(nowMs: number): PacketFate {
    const p = this.p;
    this.c.packets++;

    let burstDrop = false;
    if (p.burst !== null) {
      // State for this packet first, then its loss in that state.
      const wasBad = this.bad;
      if (this.bad) {
        if (this.rBurst() * 100 < p.burst.exitPct) this.bad = false;
      } else if (this.rBurst() * 100 < p.burst.enterPct) {
        this.bad = true;
      }
      if (this.bad && !wasBad) this.c.badStateEntries++;
      if (this.bad) this.c.badStatePackets++;
      const lossPct = this.bad ? p.burst.badLossPct : p.burst.goodLossPct;
      burstDrop = this.rBurstLoss() * 100 < lossPct;
    }
    const randomDrop = this.rLoss() * 100 < p.lossPct;
    if (burstDrop || randomDrop) {
      this.c.dropped++;
      if (burstDrop) this.c.droppedBurst++;
      else this.c.droppedRandom++;
      return { drop: true, deliverAtMs: [] };
    }

    let at = nowMs + Math.max(0, p.delayMs + this.jitterSample());
    if (this.rReorder() * 100 < p.reorderPct) {
      // Held back past its successors; does not move the FIFO floor for the others.
      at = Math.max(at, this.lastInOrderAt) + p.reorderDelayMs;
      this.c.reordered++;
    } else {
      at = Math.max(at, this.lastInOrderAt);
      this.lastInOrderAt = at;
    }
    this.c.delivered++;
    if (this.rDup() * 100 < p.duplicatePct) {
      this.c.duplicated++;
      return { drop: false, deliverAtMs: [at, at + this.rDup() * Math.max(1, p.jitterMs)] };
    }
    return { drop: false, deliverAtMs: [at] };
  }

  private jitterSample(): number {
    const j = this.p.jitterMs;
    if (j === 0) return 0;
    if (this.p.jitterDist === 'uniform') return (this.rJitter() * 2 - 1) * j;
    return this.normal() * j;
  }

  // Box-Muller, keeping the second value; 1 - u avoids log(0).
  private normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    const u = 1 - this.rJitter();
    const v = this.rJitter();
    const m = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = m * Math.sin(2 * Math.PI * v);
    return m * Math.cos(2 * Math.PI * v);
  }
}
