// The command line's mouth-to-ear, WAV to WAV: `wzp call --play` with frame-aligned markers and
// `wzp answer --record`, both on loopback, lined up by their `mediaStartMs` (wall clock).
// The caller's WAV is fed one 20 ms frame per tick from the moment the call connects, so a
// frame leaves as soon as its tick comes; a microphone delivers the frame only once its last
// sample is captured, 20 ms after its first. The markers start frames, so that framing is
// added as the one frame it is (WebRTC's figure includes its own).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav, writeWav } from '../../../src-main/engine/media/wav.ts';
import { toneWithMarkers } from '../../support/fixtures.ts';
import { detectOnsets } from '../../support/audio-analysis.ts';
import { WzpProcess } from '../../support/cli.ts';
import type { RunningRelay } from '../../support/relay-harness.ts';
import { identityFiles } from '../../support/test-identities.ts';
import { markerLatencies } from '../nat-lab/analysis.ts';

const CAPTURE_FRAMING_MS = 20;

export interface CliCallResult {
  path: string | null;
  latenciesMs: number[];
}

export async function cliCall(
  relay: RunningRelay,
  direct: boolean,
  seconds: number,
): Promise<CliCallResult> {
  const dir = mkdtempSync(join(tmpdir(), 'wzp-bench-lat-'));
  try {
    const ids = identityFiles(dir, ['a', 'b']);
    const markersMs = Array.from({ length: seconds * 2 - 3 }, (_, i) => 1500 + i * 500);
    const input = toneWithMarkers({
      durationMs: seconds * 1000 + 500,
      markersMs,
      carrierDbfs: -30,
    });
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
      '--no-port-mapping',
      ...(direct ? [] : ['--no-direct']),
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
      String(seconds),
    ]);
    try {
      const calleeConnected = await callee.waitForEvent('connected', 30_000);
      const callerConnected = await caller.waitForEvent('connected', 30_000);
      await caller.waitForEvent('ended', 40_000);
      await callee.waitForEvent('ended', 10_000);
      await callee.exited;
      const paths = caller.events.filter((e) => e.event === 'path').map((e) => String(e.path));
      const path = paths.at(-1) ?? String(callerConnected.path);
      const out = readWav(outWav).samples;
      const onsets = detectOnsets(out, 48_000, { minGapMs: 300, thresholdDbfs: -12 });
      const offset = Number(calleeConnected.mediaStartMs) - Number(callerConnected.mediaStartMs);
      // Only markers played once the final path carried the call (direct switches early).
      const latenciesMs = markerLatencies(onsets, markersMs, offset).map(
        (x) => x + CAPTURE_FRAMING_MS,
      );
      return { path, latenciesMs };
    } finally {
      await caller.stop();
      await callee.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
