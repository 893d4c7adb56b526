// One measured `wzp` call in a NAT lab (a lab and a relay shared by the calls of a scenario):
// both sides play a quiet tone with loud markers and record what they hear; from their events
// and recordings it takes the direct-path set-up time, mouth-to-ear latency each way, the audio
// gap when media moves from the relay to the direct path, and, when asked to cut the direct
// path mid-call, the time to fall back to the relay and the audio gap that costs. Anything that
// goes wrong in one call is recorded as that call's error, not thrown, so one bad call does not
// void a run of many; the cut is always lifted before the next call.
import { z } from 'zod';
import { detectOnsets } from '../../support/audio-analysis.ts';
import { RATE, toneWithMarkers } from '../../support/fixtures.ts';
import type { WzpProcess } from '../../support/cli.ts';
import { startLabCall, type CallSide, type LabCall, type LabRelay } from '../../lab/lab-calls.ts';
import type { Lab } from '../../lab/netns-lab.ts';
import {
  counterDelta,
  firstAudibleMs,
  markerLatencies,
  quietBlocks,
  type CounterSample,
} from './analysis.ts';

/**
 * The carrier under the markers. A 20 ms block more than 6 dB below it has lost the tone: that
 * is what concealment sounds like here (Opus PLC and its fade sit 10-20 dB down, not silent);
 * 20 dB below it counts as silence.
 */
export const CARRIER_DBFS = -24;
export const DROPOUT_DBFS = CARRIER_DBFS - 6;
export const SILENCE_DBFS = CARRIER_DBFS - 20;
/** Marker onsets are found above this level (the carrier stays 12 dB below it). */
const ONSET_DBFS = -12;
const CARRIER_HZ: Record<CallSide, number> = { caller: 440, callee: 660 };
/** The window examined around a relay-to-direct switch, relative to the switch. */
const MIGRATION_WINDOW_MS = { before: 300, after: 700 } as const;
/** Around a cut: from just before it to this long after the later side's fallback. */
const FALLBACK_WINDOW_MS = { before: 200, after: 800 } as const;

export interface CallPlan {
  seconds: number;
  /** Marker times in each side's microphone WAV (ms from its mediaStartMs). */
  markersMs: number[];
  /** Both sides run with --no-direct. */
  relayOnly?: boolean;
  /** Cut UDP between the clients this long after the caller's mediaStartMs (direct calls). */
  cutAtMs?: number;
}

const directEventSchema = z
  .object({
    event: z.literal('direct'),
    ok: z.boolean(),
    reason: z.string(),
    elapsedMs: z.number(),
    sinceFirstCandidateMs: z.number().optional(),
  })
  .loose();
export type DirectEvent = z.infer<typeof directEventSchema>;

/** What one side heard across a window (ms from the start of its recording). */
export interface SideGap {
  fromMs: number;
  toMs: number;
  /** Blocks that lost the tone (concealed or silent), in ms, and the longest run of them. */
  dropoutMs: number;
  longestDropoutMs: number;
  /** Blocks of near-silence, in ms, and the longest run of them. */
  silentMs: number;
  longestSilentMs: number;
  /** Frames the side's receiver concealed across the same span, from its per-second stats. */
  framesConcealed: number | null;
}

function sideGap(
  pcm: Int16Array,
  fromMs: number,
  toMs: number,
  framesConcealed: number | null,
): SideGap {
  const drop = quietBlocks(pcm, RATE, fromMs, toMs, DROPOUT_DBFS);
  const silent = quietBlocks(pcm, RATE, fromMs, toMs, SILENCE_DBFS);
  return {
    fromMs: drop.fromMs,
    toMs: drop.toMs,
    dropoutMs: drop.quietMs,
    longestDropoutMs: drop.longestMs,
    silentMs: silent.quietMs,
    longestSilentMs: silent.longestMs,
    framesConcealed,
  };
}

export interface CallRecord {
  scenario: string;
  kind: 'direct' | 'relay';
  error?: string;
  direct?: {
    caller: DirectEvent | null;
    callee: DirectEvent | null;
    ok: boolean;
    /** max of the two sides' sinceFirstCandidateMs (null unless both succeeded). */
    setupMs: number | null;
  };
  /** Marker latencies, per direction ("callerToCallee": heard in the callee's recording). */
  m2e?: { callerToCallee: number[]; calleeToCaller: number[] };
  /** Per receiving side: the gap heard around its relay-to-direct switch. */
  migration?: Partial<Record<CallSide, SideGap & { switchAtRecMs: number }>>;
  fallback?: {
    /** How long the two iptables changes took (the cut is timed from their start). */
    cutApplyMs: number;
    /** Cut to each side's `path` relay event, ms. */
    fallbackMs: Partial<Record<CallSide, number>>;
    gap: Partial<Record<CallSide, SideGap>>;
  };
  ended?: Record<CallSide, { framesConcealed: number; durationS: number }>;
  /** Each side's `port-mapping` event (what its router said), when it printed one. */
  portMapping?: Partial<Record<CallSide, Record<string, unknown>>>;
}

const SIDES = ['caller', 'callee'] as const;
const other = (s: CallSide): CallSide => (s === 'caller' ? 'callee' : 'caller');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

/** framesConcealed from each `stats` line, with the host time it was read. */
function concealedSamples(proc: WzpProcess): CounterSample[] {
  const out: CounterSample[] = [];
  proc.events.forEach((e, i) => {
    if (e.event === 'stats' && typeof e.framesConcealed === 'number')
      out.push({ at: proc.eventTimes[i] ?? Number.NaN, value: e.framesConcealed });
  });
  return out;
}

function directOf(call: LabCall, side: CallSide): DirectEvent | null {
  const r = directEventSchema.safeParse(call.proc(side).events.find((e) => e.event === 'direct'));
  return r.success ? r.data : null;
}

/** Runs one call in `lab` (clients a → b) through `relay` and measures it; never throws. */
export async function measuredCall(lab: Lab, relay: LabRelay, plan: CallPlan): Promise<CallRecord> {
  const rec: CallRecord = { scenario: lab.scenario, kind: plan.relayOnly ? 'relay' : 'direct' };
  const durationMs = (plan.seconds + 3) * 1000;
  const tone = (side: CallSide) =>
    toneWithMarkers({
      durationMs,
      markersMs: plan.markersMs,
      carrierFreq: CARRIER_HZ[side],
      carrierDbfs: CARRIER_DBFS,
    }).pcm;
  let call: LabCall | undefined;
  let cut = false;
  try {
    call = await startLabCall(lab, {
      caller: 'a',
      callee: 'b',
      seconds: plan.seconds,
      relay,
      play: { caller: tone('caller'), callee: tone('callee') },
      extraArgs: plan.relayOnly ? ['--no-direct'] : undefined,
    });
    const c = call;
    const [conCaller, conCallee] = await Promise.all(SIDES.map((s) => c.connected(s)));
    const mediaStart: Record<CallSide, number> = {
      caller: conCaller?.mediaStartMs ?? Number.NaN,
      callee: conCallee?.mediaStartMs ?? Number.NaN,
    };

    let directOk = false;
    if (!plan.relayOnly) {
      await Promise.all(
        SIDES.map((s) => c.waitFor(s, 'direct', undefined, 10_000).catch(() => null)),
      );
      const d = { caller: directOf(c, 'caller'), callee: directOf(c, 'callee') };
      directOk = d.caller?.ok === true && d.callee?.ok === true;
      const since = [d.caller?.sinceFirstCandidateMs, d.callee?.sinceFirstCandidateMs];
      rec.portMapping = {};
      for (const s of SIDES) {
        const m = c.proc(s).events.find((e) => e.event === 'port-mapping');
        if (m !== undefined) rec.portMapping[s] = m;
      }
      rec.direct = {
        ...d,
        ok: directOk,
        setupMs:
          directOk && since.every((x) => typeof x === 'number')
            ? Math.max(...(since as number[]))
            : null,
      };
    }

    let cutInfo: { start: number; applyMs: number } | undefined;
    if (plan.cutAtMs !== undefined && directOk) {
      for (const s of SIDES)
        await until(
          () => c.pathChanges(s).some((p) => p.path === 'direct'),
          5000,
          `${s} switches to direct`,
        );
      await sleep(mediaStart.caller + plan.cutAtMs - Date.now());
      const start = Date.now();
      cut = true;
      await lab.blockUdpBetweenClients();
      cutInfo = { start, applyMs: Date.now() - start };
      await Promise.all(
        SIDES.map((s) =>
          until(
            () => c.pathChanges(s).some((p) => p.path === 'relay' && p.at >= start),
            6000,
            `${s} falls back to the relay`,
          ).catch(() => undefined),
        ),
      );
    }

    const end = await c.ended();
    rec.ended = {
      caller: { framesConcealed: end.caller.framesConcealed, durationS: end.caller.durationS },
      callee: { framesConcealed: end.callee.framesConcealed, durationS: end.callee.durationS },
    };
    const heard = { caller: c.recording('caller'), callee: c.recording('callee') };

    // Mouth-to-ear each way: the sender's markers against the receiver's onsets.
    const latencies = (receiver: CallSide) =>
      markerLatencies(
        detectOnsets(heard[receiver], RATE, { minGapMs: 500, thresholdDbfs: ONSET_DBFS }),
        plan.markersMs,
        mediaStart[receiver] - mediaStart[other(receiver)],
      );
    rec.m2e = { callerToCallee: latencies('callee'), calleeToCaller: latencies('caller') };

    if (directOk) {
      rec.migration = {};
      for (const s of SIDES) {
        const sw = c.pathChanges(s).find((p) => p.path === 'direct');
        if (sw === undefined) continue;
        const atRec = sw.at - mediaStart[s];
        // Nothing is heard before the first packet has crossed: never count that as a gap.
        const audible = firstAudibleMs(heard[s], RATE, SILENCE_DBFS) ?? 0;
        const from = Math.max(audible + 40, atRec - MIGRATION_WINDOW_MS.before);
        const to = atRec + MIGRATION_WINDOW_MS.after;
        rec.migration[s] = {
          switchAtRecMs: Math.round(atRec),
          ...sideGap(
            heard[s],
            from,
            to,
            counterDelta(
              concealedSamples(c.proc(s)),
              sw.at - MIGRATION_WINDOW_MS.before,
              sw.at + MIGRATION_WINDOW_MS.after,
            ),
          ),
        };
      }
    }

    if (cutInfo !== undefined) {
      const { start } = cutInfo;
      const relayAt = (s: CallSide) =>
        c.pathChanges(s).find((p) => p.path === 'relay' && p.at >= start)?.at;
      const fallbackMs: Partial<Record<CallSide, number>> = {};
      const gap: Partial<Record<CallSide, SideGap>> = {};
      for (const s of SIDES) {
        const at = relayAt(s);
        if (at !== undefined) fallbackMs[s] = at - start;
      }
      const ats = SIDES.map(relayAt);
      if (ats.every((x) => x !== undefined)) {
        // What a side hears resumes once the *other* side sends over the relay: the window
        // runs past the later of the two fallbacks.
        const lastAt = Math.max(...(ats as number[]));
        for (const s of SIDES) {
          gap[s] = sideGap(
            heard[s],
            start - mediaStart[s] - FALLBACK_WINDOW_MS.before,
            lastAt - mediaStart[s] + FALLBACK_WINDOW_MS.after,
            counterDelta(concealedSamples(c.proc(s)), start, lastAt + FALLBACK_WINDOW_MS.after),
          );
        }
      }
      rec.fallback = { cutApplyMs: cutInfo.applyMs, fallbackMs, gap };
    }
  } catch (e) {
    rec.error = e instanceof Error ? e.message.slice(0, 2000) : String(e);
  } finally {
    if (cut) await lab.unblockUdpBetweenClients().catch(() => undefined);
    await call?.close();
  }
  return rec;
}
