// Media figures (issue 4), each beside a baseline from the same run:
// - CPU per second of call for the whole media pipeline, both directions (Opus with DTX, FEC,
//   ChaCha20-Poly1305, jitter buffer, decode), beside the Opus codec alone;
// - concealed frames and E-model MOS (ITU-T G.107) under 0/5/10/20 % bursty loss with FEC as the
//   tier table sets it, beside the same stream without FEC (simulated on a fake clock through
//   the real pipeline, seeded);
// - mouth-to-ear latency on the relay path between two `wzp` processes on loopback, from markers
//   in the input WAV to their onsets in the recorded WAV, beside the transport floor (half the
//   relay round trip on each leg plus one frame of packetization).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MediaReceiver,
  MediaSender,
  SLICE_SAMPLES,
  prewarmMediaCodecs,
} from '../../src-main/engine/media/media-pipeline.ts';
import { OpusDecoderStage, OpusEncoderStage } from '../../src-main/engine/media/opus-codec.ts';
import { tierById, type QualityTier } from '../../src-main/engine/media/quality-tiers.ts';
import { burstRatioOf, estimateMos, opusImpairment } from '../../src-main/engine/media/e-model.ts';
import { readWav, writeWav } from '../../src-main/engine/media/wav.ts';
import { ImpairmentModel } from '../support/impairment-model.ts';
import { toneWithMarkers, voiceLike } from '../support/fixtures.ts';
import { detectOnsets } from '../support/audio-analysis.ts';
import { WzpProcess } from '../support/cli.ts';
import { startRelay } from '../support/relay-harness.ts';
import { identityFiles, keyedCiphers } from '../support/test-identities.ts';
import { percentile, type BenchResult, type BenchRow } from './bench-types.ts';
import { markerLatencies } from './nat-lab/analysis.ts';

const CPU_SECONDS = 30;

function cpuPerCallSecond(): { pipelineMs: number; codecOnlyMs: number } {
  const audio = voiceLike(CPU_SECONDS * 1000);
  let now = 0;
  const { a, b } = keyedCiphers(() => now);
  const senders = [new MediaSender({ sealer: a.sealer }), new MediaSender({ sealer: b.sealer })];
  const receivers = [
    new MediaReceiver({ opener: b.opener }),
    new MediaReceiver({ opener: a.opener }),
  ];
  const t0 = process.cpuUsage();
  for (let slot = 0; slot < CPU_SECONDS * 50; slot++) {
    now = slot * 20;
    const slice = audio.subarray(slot * SLICE_SAMPLES, (slot + 1) * SLICE_SAMPLES);
    for (let dir = 0; dir < 2; dir++) {
      for (const p of senders[dir]?.push(slice) ?? []) receivers[dir]?.receive(p, now + 1);
      receivers[dir]?.pull(now);
    }
  }
  const pipeline = process.cpuUsage(t0);
  const enc = [new OpusEncoderStage({ dtx: false }), new OpusEncoderStage({ dtx: false })];
  const dec = [new OpusDecoderStage(), new OpusDecoderStage()];
  const t1 = process.cpuUsage();
  for (let slot = 0; slot < CPU_SECONDS * 50; slot++) {
    const slice = audio.subarray(slot * SLICE_SAMPLES, (slot + 1) * SLICE_SAMPLES);
    for (let dir = 0; dir < 2; dir++) {
      const f = enc[dir]?.encode(slice);
      if (f && f.kind !== 'suppressed') dec[dir]?.decode(f.payload);
    }
  }
  const codec = process.cpuUsage(t1);
  for (const s of senders) s.close();
  for (const r of receivers) r.close();
  for (const e of enc) e.close();
  for (const d of dec) d.close();
  const ms = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000 / CPU_SECONDS;
  return { pipelineMs: ms(pipeline), codecOnlyMs: ms(codec) };
}

interface LossOutcome {
  concealedPct: number;
  mos: number;
  playoutDelayMs: number;
}

/** 60 s of voice through bursty loss (mean burst 2 packets) and 20 ms of jitter. */
function lossRun(lossPct: number, tier: QualityTier, fecDepth: 0 | 1 | 2 | 3): LossOutcome {
  let now = 0;
  const { a, b } = keyedCiphers(() => now);
  // The tier's own FEC depth is replaced by the one under test (0 = the no-FEC baseline).
  const sender = new MediaSender({ sealer: a.sealer, tier: { ...tier, fecDepth: 0 }, dtx: false });
  sender.setFecDepthFloor(fecDepth);
  const receiver = new MediaReceiver({ opener: b.opener });
  const exitPct = 50;
  const enterPct = lossPct === 0 ? 0 : (lossPct * exitPct) / (100 - lossPct);
  const model = new ImpairmentModel(
    { lossPct: 0, burst: lossPct === 0 ? null : { enterPct, exitPct }, jitterMs: 20, delayMs: 20 },
    4242,
  );
  const audio = voiceLike(61_000);
  const queue: { at: number; p: Uint8Array }[] = [];
  const lost: boolean[] = [];
  const delays: number[] = [];
  for (let slot = 0; slot < 60 * 50; slot++) {
    now = slot * 20;
    for (const p of sender.push(audio.subarray(slot * SLICE_SAMPLES, (slot + 1) * SLICE_SAMPLES))) {
      const fate = model.decide(now);
      lost.push(fate.drop);
      for (const at of fate.deliverAtMs) queue.push({ at, p });
    }
    queue.sort((x, y) => x.at - y.at);
    while (queue.length > 0 && (queue[0]?.at ?? Infinity) <= now) {
      const q = queue.shift();
      if (q) receiver.receive(q.p, q.at);
    }
    receiver.pull(now);
    if (slot > 250) delays.push(receiver.stats.jitter.currentDelayMs);
  }
  const s = receiver.stats;
  const concealedPct = (100 * s.framesConcealed) / Math.max(1, s.framesPlayed + s.framesConcealed);
  // Mouth-to-ear for the E-model: packetization + Opus look-ahead + network + playout buffer.
  const playoutDelayMs = percentile(delays, 50);
  const delayMs = tier.frameMs + 6.5 + 20 + playoutDelayMs;
  const mos = estimateMos({
    delayMs,
    lossPct: concealedPct,
    burstRatio: burstRatioOf(lost),
    codec: opusImpairment(tier.bitrateBps, tier.frameMs),
  });
  sender.close();
  receiver.close();
  return { concealedPct, mos, playoutDelayMs };
}

async function mouthToEar(): Promise<{ latencies: number[]; floorMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'wzp-bench-m2e-'));
  const relay = await startRelay();
  try {
    const ids = identityFiles(dir, ['a', 'b']);
    const markersMs = Array.from({ length: 12 }, (_, i) => 1500 + i * 1000);
    const input = toneWithMarkers({ durationMs: 14_500, markersMs, carrierDbfs: -30 });
    const inWav = join(dir, 'in.wav');
    writeWav(inWav, input.pcm);
    const outWav = join(dir, 'out.wav');
    const common = (i: number) => [
      '--relay',
      `127.0.0.1:${relay.quic.port}`,
      '--relay-fingerprint',
      relay.fingerprint,
      '--identity',
      ids[i]?.file ?? '',
      '--no-direct',
      '--json',
    ];
    const callee = new WzpProcess(['answer', ...common(1), '--record', outWav]);
    await callee.waitForEvent('waiting', 20_000);
    const caller = new WzpProcess([
      'call',
      ids[1]?.fp ?? '',
      ...common(0),
      '--play',
      inWav,
      '--seconds',
      '15',
    ]);
    try {
      const calleeConnected = await callee.waitForEvent('connected', 30_000);
      const callerConnected = await caller.waitForEvent('connected', 30_000);
      await caller.waitForEvent('ended', 40_000);
      await callee.waitForEvent('ended', 10_000);
      await callee.exited;
      const rtts = caller.events
        .filter((e) => e.event === 'stats')
        .map((e) => Number(e.rttMs))
        .filter((x) => Number.isFinite(x));
      const out = readWav(outWav).samples;
      const onsets = detectOnsets(out, 48_000, { minGapMs: 500, thresholdDbfs: -12 });
      const offset = Number(calleeConnected.mediaStartMs) - Number(callerConnected.mediaStartMs);
      const latencies = markerLatencies(onsets, markersMs, offset);
      // Each leg's one-way delay is half its relay round trip; the stats RTT is the sum of both.
      return { latencies, floorMs: percentile(rtts, 50) / 2 + 20 };
    } finally {
      await caller.stop();
      await callee.stop();
    }
  } finally {
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchResult> {
  prewarmMediaCodecs();
  const cpu = cpuPerCallSecond();
  const table: BenchRow[] = [
    {
      metric: 'media pipeline CPU per s of call (2 dirs)',
      value: Number(cpu.pipelineMs.toFixed(2)),
      unit: 'ms',
      baseline: Number(cpu.codecOnlyMs.toFixed(2)),
      baselineName: 'Opus encode+decode alone',
    },
  ];
  const loss: Record<string, unknown> = {};
  const fecTier: Record<number, { tier: number; depth: 0 | 1 | 2 | 3 }> = {
    0: { tier: 3, depth: 1 },
    5: { tier: 2, depth: 2 },
    10: { tier: 2, depth: 2 },
    20: { tier: 1, depth: 3 },
  };
  for (const pct of [0, 5, 10, 20]) {
    const choice = fecTier[pct] ?? { tier: 3, depth: 1 };
    const tier = tierById(choice.tier);
    const plain = tierById(choice.tier);
    if (!tier || !plain) throw new Error('tier table changed');
    const withFec = lossRun(pct, tier, choice.depth);
    const withoutFec = lossRun(pct, plain, 0);
    loss[`${pct}%`] = { tier: tier.id, fecDepth: choice.depth, withFec, withoutFec };
    table.push(
      {
        metric: `concealed at ${pct}% bursty loss (FEC)`,
        value: Number(withFec.concealedPct.toFixed(2)),
        unit: '%',
        baseline: Number(withoutFec.concealedPct.toFixed(2)),
        baselineName: 'no FEC',
      },
      {
        metric: `E-model MOS at ${pct}% bursty loss (FEC)`,
        value: Number(withFec.mos.toFixed(2)),
        unit: 'MOS',
        baseline: Number(withoutFec.mos.toFixed(2)),
        baselineName: 'no FEC',
      },
    );
  }
  const m2e = await mouthToEar();
  table.push(
    {
      metric: 'mouth-to-ear median, relay path (loopback)',
      value: Number(percentile(m2e.latencies, 50).toFixed(1)),
      unit: 'ms',
      baseline: Number(m2e.floorMs.toFixed(1)),
      baselineName: 'transport floor',
    },
    {
      metric: 'mouth-to-ear p95, relay path (loopback)',
      value: Number(percentile(m2e.latencies, 95).toFixed(1)),
      unit: 'ms',
      baseline: Number(m2e.floorMs.toFixed(1)),
      baselineName: 'transport floor',
    },
  );
  return {
    table,
    details: {
      cpuMsPerCallSecond: cpu,
      loss,
      mouthToEar: { samples: m2e.latencies.map((x) => Number(x.toFixed(1))), floorMs: m2e.floorMs },
      lossModel:
        'Gilbert-Elliott, mean burst 2 packets, 20 ms delay + 20 ms uniform jitter, seed 4242, 60 s of voice-like audio',
    },
  };
}
