// The whole voice path without sockets, on a fake clock: sender → (loss, jitter) → receiver.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MediaReceiver,
  MediaSender,
  SLICE_SAMPLES,
} from '../../src-main/engine/media/media-pipeline.ts';
import { tierById } from '../../src-main/engine/media/quality-tiers.ts';
import { mulberry32 } from '../support/impairment-model.ts';
import { keyedCiphers } from '../support/test-identities.ts';
import { sineTone } from '../support/fixtures.ts';
import { dominantFrequency, rmsDbfs } from '../support/audio-analysis.ts';

/** Run `seconds` of a 440 Hz tone from A to B through a lossy, jittery fake network. */
function run(opts: {
  seconds: number;
  lossPct: number;
  jitterMs: number;
  tier?: number;
  seed?: number;
  mutedAfterS?: number;
}) {
  let now = 0;
  const clock = () => now;
  const { a, b } = keyedCiphers(clock);
  const tier = tierById(opts.tier ?? 3);
  assert.ok(tier);
  const sender = new MediaSender({ sealer: a.sealer, tier });
  const receiver = new MediaReceiver({ opener: b.opener });
  const rand = mulberry32(opts.seed ?? 7);
  const tone = sineTone({ freq: 440, durationMs: opts.seconds * 1000 + 100, amplitude: 0.4 });
  const inFlight: { at: number; packet: Uint8Array }[] = [];
  const out: Int16Array[] = [];
  let sent = 0;
  for (let slot = 0; slot < opts.seconds * 50; slot++) {
    now = slot * 20;
    if (opts.mutedAfterS !== undefined && now >= opts.mutedAfterS * 1000) sender.setMuted(true);
    for (const p of sender.push(tone.subarray(slot * SLICE_SAMPLES, (slot + 1) * SLICE_SAMPLES))) {
      sent++;
      if (rand() * 100 < opts.lossPct) continue;
      inFlight.push({ at: now + 10 + rand() * opts.jitterMs, packet: p });
    }
    inFlight.sort((x, y) => x.at - y.at);
    while (inFlight.length > 0 && (inFlight[0]?.at ?? Infinity) <= now) {
      const next = inFlight.shift();
      if (next) receiver.receive(next.packet, next.at);
    }
    out.push(receiver.pull(now));
  }
  const pcm = new Int16Array(out.length * SLICE_SAMPLES);
  out.forEach((s, i) => pcm.set(s, i * SLICE_SAMPLES));
  return { pcm, sent, sender, receiver };
}

describe('media pipeline', () => {
  test('a clean path plays below the FEC floor; loss brings the floor in (issue 12)', () => {
    // Tier 3 sends FEC depth 1, whose copies need the buffer to wait two frames (40 ms). NetEq
    // waits for redundancy only once loss is seen; so must we.
    const clean = run({ seconds: 10, lossPct: 0, jitterMs: 0 });
    const j = clean.receiver.stats.jitter;
    assert.equal(clean.receiver.stats.framesConcealed, 0);
    assert.ok(j.targetDelayMs < 40, `clean target ${j.targetDelayMs} ms`);
    assert.ok(j.currentDelayMs < 40, `clean delay ${j.currentDelayMs} ms`);
    const lossy = run({ seconds: 10, lossPct: 5, jitterMs: 0 });
    assert.ok(
      lossy.receiver.stats.jitter.targetDelayMs >= 40,
      `lossy target ${lossy.receiver.stats.jitter.targetDelayMs} ms`,
    );
  });

  test('a tone goes through encode, FEC, encryption, jitter buffer and decode', () => {
    const { pcm, receiver } = run({ seconds: 3, lossPct: 0, jitterMs: 0 });
    const tail = pcm.subarray(48_000);
    assert.ok(Math.abs(dominantFrequency(tail, 48_000) - 440) < 3);
    assert.ok(rmsDbfs(tail) > -15);
    assert.equal(receiver.stats.framesConcealed, 0);
    assert.equal(receiver.stats.packetsUndecryptable, 0);
    assert.ok(receiver.stats.interarrivalJitterMs < 1, 'no jitter measured on a steady stream');
  });

  test('at 10 % random loss and 30 ms jitter, FEC depth 2 keeps concealment under 1 %', () => {
    const { receiver, pcm } = run({ seconds: 20, lossPct: 10, jitterMs: 30, tier: 2 });
    const s = receiver.stats;
    const frames = s.framesPlayed + s.framesConcealed;
    assert.ok(
      s.framesConcealed / frames < 0.01,
      JSON.stringify({ concealed: s.framesConcealed, frames, recovered: s.framesRecovered }),
    );
    assert.ok(s.framesRecovered > 0, 'redundancy was used');
    assert.ok(s.interarrivalJitterMs > 3, `jitter measured: ${s.interarrivalJitterMs}`);
    assert.ok(s.framesLate / frames < 0.01);
    assert.ok(Math.abs(dominantFrequency(pcm.subarray(48_000), 48_000) - 440) < 3);
  });

  test('without redundancy the same loss is heard as concealment', () => {
    const { receiver } = run({ seconds: 20, lossPct: 10, jitterMs: 30, tier: 5 });
    const s = receiver.stats;
    assert.ok(s.framesConcealed / (s.framesPlayed + s.framesConcealed) > 0.05);
  });

  test('mute stops the audio: only DTX keep-alives flow and the far end hears silence', () => {
    const { receiver, pcm, sender } = run({ seconds: 6, lossPct: 0, jitterMs: 0, mutedAfterS: 2 });
    assert.ok(rmsDbfs(pcm.subarray(48_000, 96_000)) > -15, 'audible before mute');
    assert.ok(rmsDbfs(pcm.subarray(4 * 48_000)) < -50, 'silent after mute');
    assert.ok(sender.stats.framesSuppressed > 100, 'DTX suppressed the muted frames');
    assert.equal(receiver.stats.packetsUndecryptable, 0);
  });

  test('tampered and foreign packets are dropped and counted', () => {
    let now = 0;
    const { a, b } = keyedCiphers(() => now);
    const other = keyedCiphers(() => now);
    const sender = new MediaSender({ sealer: a.sealer, dtx: false });
    const stranger = new MediaSender({ sealer: other.a.sealer, dtx: false });
    const receiver = new MediaReceiver({ opener: b.opener });
    const tone = sineTone({ freq: 300, durationMs: 20 });
    const [p] = sender.push(tone);
    assert.ok(p);
    const tampered = Uint8Array.from(p);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    assert.equal(receiver.receive(tampered, now), 'undecryptable');
    assert.equal(receiver.receive(p, now), 'accepted');
    assert.equal(receiver.receive(p, now), 'duplicate');
    stranger.push(tone);
    const [q] = stranger.push(tone); // a fresh sequence number, so it is judged by its tag
    assert.ok(q);
    assert.equal(receiver.receive(q, now), 'undecryptable');
    assert.equal(receiver.receive(new Uint8Array([1, 2, 3]), now), 'malformed');
    now = 20;
    assert.equal(receiver.stats.packetsUndecryptable, 2);
    assert.equal(receiver.stats.packetsMalformed, 1);
  });

  test('tier changes mid-stream switch frame size and keep audio flowing', () => {
    let now = 0;
    const { a, b } = keyedCiphers(() => now);
    const sender = new MediaSender({ sealer: a.sealer, tier: tierById(3), dtx: false });
    const receiver = new MediaReceiver({ opener: b.opener });
    const tone = sineTone({ freq: 500, durationMs: 6000, amplitude: 0.4 });
    const out: Int16Array[] = [];
    for (let slot = 0; slot < 300; slot++) {
      now = slot * 20;
      if (slot === 100) sender.setTier(tierById(0) ?? sender.tier);
      if (slot === 200) sender.setTier(tierById(6) ?? sender.tier);
      for (const p of sender.push(tone.subarray(slot * 960, slot * 960 + 960)))
        receiver.receive(p, now + 5);
      out.push(receiver.pull(now));
    }
    const pcm = new Int16Array(300 * 960);
    out.forEach((s, i) => pcm.set(s, i * 960));
    for (const [from, to] of [
      [30, 90],
      [150, 190],
      [240, 290],
    ] as const) {
      const part = pcm.subarray(from * 960, to * 960);
      assert.ok(Math.abs(dominantFrequency(part, 48_000) - 500) < 5, `tone in slots ${from}-${to}`);
    }
    assert.equal(receiver.stats.peerTier, 6);
  });
});
