// `npm run bench -- latency` (issue 12): mouth-to-ear as people hear it, beside libwebrtc in the
// same run. Figures under results.latency (names read by outside checks, keep them exact):
// - appMouthToEarDirectMs / appMouthToEarRelayMs: the app in Chromium through the web host,
//   page's own clock (latency/app-calls.ts), median over all clicks of >= 10 calls each, the
//   two paths interleaved call by call;
// - webrtcMouthToEarMs: ../shared/peer (two Chromium WebRTC pages, libwebrtc's NetEq), same run;
// - cliMouthToEarDirectMs / cliMouthToEarRelayMs: `wzp` WAV to WAV (latency/cli-calls.ts);
// - answerToFirstAudioMs: the callee's answer → first sound out of the callee's page;
// - jitterBufferDelayCleanMs / jitterBufferDelay30msJitterMs: the receive pipeline's playout
//   delay on a fake clock (seeded), on a clean path and with 30 ms of uniform jitter.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  MediaReceiver,
  MediaSender,
  SLICE_SAMPLES,
  prewarmMediaCodecs,
} from '../../src-main/engine/media/media-pipeline.ts';
import { writeWav } from '../../src-main/engine/media/wav.ts';
import { ImpairmentModel } from '../support/impairment-model.ts';
import { toneWithMarkers, voiceLike } from '../support/fixtures.ts';
import { startRelay } from '../support/relay-harness.ts';
import { keyedCiphers } from '../support/test-identities.ts';
import { percentile, type BenchResult, type BenchRow } from './bench-types.ts';
import {
  addContact,
  appCall,
  buildRenderer,
  startAppSide,
  stopAppSide,
  type AppCallResult,
} from './latency/app-calls.ts';
import { cliCall, type CliCallResult } from './latency/cli-calls.ts';
import { runPeer } from './nat-lab/peer.ts';

const CALLS = Number(process.env.WZP_LATENCY_CALLS ?? 10);
const APP_CALL_SECONDS = 4;
const CLI_CALL_SECONDS = 5;

/** Median playout delay of the receive pipeline over 60 s, fake clock, given jitter. */
export function jitterBufferDelay(jitterMs: number, seed = 1212): number {
  let now = 0;
  const { a, b } = keyedCiphers(() => now);
  const sender = new MediaSender({ sealer: a.sealer, dtx: false });
  const receiver = new MediaReceiver({ opener: b.opener });
  const model = new ImpairmentModel({ lossPct: 0, jitterMs, delayMs: 5 }, seed);
  const audio = voiceLike(61_000);
  const queue: { at: number; p: Uint8Array }[] = [];
  const delays: number[] = [];
  for (let slot = 0; slot < 60 * 50; slot++) {
    now = slot * 20;
    for (const p of sender.push(audio.subarray(slot * SLICE_SAMPLES, (slot + 1) * SLICE_SAMPLES))) {
      for (const at of model.decide(now).deliverAtMs) queue.push({ at, p });
    }
    queue.sort((x, y) => x.at - y.at);
    while (queue.length > 0 && (queue[0]?.at ?? Infinity) <= now) {
      const q = queue.shift();
      if (q) receiver.receive(q.p, q.at);
    }
    receiver.pull(now);
    if (slot > 250) delays.push(receiver.stats.jitter.currentDelayMs);
  }
  sender.close();
  receiver.close();
  return percentile(delays, 50);
}

const med = (xs: number[]) => (xs.length > 0 ? Number(percentile(xs, 50).toFixed(1)) : null);
const p95 = (xs: number[]) => (xs.length > 0 ? Number(percentile(xs, 95).toFixed(1)) : null);

async function appCalls(relayDir: string): Promise<{
  direct: AppCallResult[];
  relay: AppCallResult[];
  error?: string;
}> {
  const direct: AppCallResult[] = [];
  const relayed: AppCallResult[] = [];
  const work = mkdtempSync(join(tmpdir(), 'wzp-bench-app-'));
  const relay = await startRelay();
  const sides: Awaited<ReturnType<typeof startAppSide>>[] = [];
  try {
    const renderer = join(work, 'renderer');
    buildRenderer(renderer);
    // Clicks every 400 ms over a faint carrier; the fake microphone loops the file.
    const mic = toneWithMarkers({
      durationMs: 4000,
      markersMs: Array.from({ length: 10 }, (_, i) => i * 400),
      carrierDbfs: -40,
    });
    const wav = join(work, 'mic.wav');
    writeWav(wav, mic.pcm);
    const a = await startAppSide('a', work, renderer, wav, relay);
    sides.push(a);
    const b = await startAppSide('b', work, renderer, wav, relay);
    sides.push(b);
    const bId = await addContact(a, b, 'B');
    await addContact(b, a, 'A');
    await new Promise((r) => setTimeout(r, 1500));
    for (let i = 0; i < CALLS; i++) {
      direct.push(await appCall(a, b, bId, true, APP_CALL_SECONDS));
      relayed.push(await appCall(a, b, bId, false, APP_CALL_SECONDS));
    }
    return { direct, relay: relayed };
  } catch (e) {
    return { direct, relay: relayed, error: e instanceof Error ? e.message : String(e) };
  } finally {
    for (const s of sides) await stopAppSide(s);
    await relay.stop();
    rmSync(work, { recursive: true, force: true });
    void relayDir;
  }
}

export async function run(): Promise<BenchResult> {
  prewarmMediaCodecs();
  const jbClean = jitterBufferDelay(0);
  const jb30 = jitterBufferDelay(30);

  const app = await appCalls('');
  const appDirect = app.direct.filter((c) => c.path === 'direct').flatMap((c) => c.latenciesMs);
  const appRelay = app.relay.filter((c) => c.path === 'relay').flatMap((c) => c.latenciesMs);
  const answer = [...app.direct, ...app.relay]
    .map((c) => c.answerToFirstAudioMs)
    .filter((x): x is number => x !== null);

  const relay = await startRelay();
  const cli: { direct: CliCallResult[]; relay: CliCallResult[] } = { direct: [], relay: [] };
  try {
    for (let i = 0; i < CALLS; i++) {
      cli.direct.push(await cliCall(relay, true, CLI_CALL_SECONDS));
      cli.relay.push(await cliCall(relay, false, CLI_CALL_SECONDS));
    }
  } finally {
    await relay.stop();
  }
  const cliDirect = cli.direct.filter((c) => c.path === 'direct').flatMap((c) => c.latenciesMs);
  const cliRelay = cli.relay.filter((c) => c.path === 'relay').flatMap((c) => c.latenciesMs);

  const peer = await runPeer({
    scenarios: ['public-cone'],
    calls: CALLS,
    callSeconds: 5,
    timeoutMs: 600_000,
  });
  const webrtc = peer.scenarios[0]?.audioAtoB;

  const latency = {
    appMouthToEarDirectMs: med(appDirect),
    appMouthToEarRelayMs: med(appRelay),
    webrtcMouthToEarMs: webrtc?.mouthToEarMs.median ?? null,
    cliMouthToEarDirectMs: med(cliDirect),
    cliMouthToEarRelayMs: med(cliRelay),
    answerToFirstAudioMs: med(answer),
    jitterBufferDelayCleanMs: Number(jbClean.toFixed(1)),
    jitterBufferDelay30msJitterMs: Number(jb30.toFixed(1)),
  };
  const row = (metric: string, value: number | null, baseline?: number | null): BenchRow => ({
    metric,
    value: value ?? Number.NaN,
    unit: 'ms',
    ...(baseline != null ? { baseline, baselineName: 'libwebrtc (peer), same run' } : {}),
  });
  return {
    table: [
      row(
        'app mouth-to-ear, direct (Chromium)',
        latency.appMouthToEarDirectMs,
        latency.webrtcMouthToEarMs,
      ),
      row(
        'app mouth-to-ear, relay (Chromium)',
        latency.appMouthToEarRelayMs,
        latency.webrtcMouthToEarMs,
      ),
      row('cli mouth-to-ear, direct', latency.cliMouthToEarDirectMs),
      row('cli mouth-to-ear, relay', latency.cliMouthToEarRelayMs),
      row('answer to first audio (app)', latency.answerToFirstAudioMs),
      row(
        'jitter buffer delay, clean',
        latency.jitterBufferDelayCleanMs,
        webrtc?.jitterBufferDelayMs.median,
      ),
      row('jitter buffer delay, 30 ms jitter', latency.jitterBufferDelay30msJitterMs),
    ],
    details: {
      latency,
      calls: CALLS,
      app: {
        error: app.error,
        paths: { direct: app.direct.map((c) => c.path), relay: app.relay.map((c) => c.path) },
        clicks: { direct: appDirect.length, relay: appRelay.length },
        p95: { direct: p95(appDirect), relay: p95(appRelay) },
        perCallMedians: {
          direct: app.direct.map((c) => med(c.latenciesMs)),
          relay: app.relay.map((c) => med(c.latenciesMs)),
        },
        answerToFirstAudioMs: answer.map((x) => Math.round(x)),
        answerToFirstAudioCallerMs: [...app.direct, ...app.relay].map((c) =>
          c.answerToFirstAudioCallerMs === null ? null : Math.round(c.answerToFirstAudioCallerMs),
        ),
      },
      cli: {
        paths: { direct: cli.direct.map((c) => c.path), relay: cli.relay.map((c) => c.path) },
        perCallMedians: {
          direct: cli.direct.map((c) => med(c.latenciesMs)),
          relay: cli.relay.map((c) => med(c.latenciesMs)),
        },
      },
      webrtc: { ok: peer.ok, error: peer.error, scenario: peer.scenarios[0] ?? null },
    },
  };
}
