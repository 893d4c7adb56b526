// Tests the Opus stages and the tier table they share: audio survives the codec at every tier,
// tiers switch mid-stream, concealment is exactly one frame, garbage is absorbed, DTX stops
// packets in silence but never in sound, and the receiver plays comfort noise in DTX gaps.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DtxGate,
  OpusDecoderStage,
  OpusEncoderStage,
  opusPacketSamples,
} from '../../src-main/engine/media/opus-codec.ts';
import type { EncodedFrame } from '../../src-main/engine/media/opus-codec.ts';
import {
  DEFAULT_TIER,
  DEFAULT_TIER_ID,
  QUALITY_TIERS,
  clampTierId,
  tierById,
} from '../../src-main/engine/media/quality-tiers.ts';
import type { QualityTier } from '../../src-main/engine/media/quality-tiers.ts';
import { dominantFrequency, rmsDbfs } from '../support/audio-analysis.ts';
import { RATE, concat, frames, pattern, sineTone, voiceLike } from '../support/fixtures.ts';

function tier(id: number): QualityTier {
  const t = tierById(id);
  assert.ok(t, `tier ${id} exists`);
  return t;
}

/** Encode and decode a whole signal frame by frame with DTX off; returns the decoded audio. */
function roundTrip(pcm: Int16Array, t: QualityTier): { out: Int16Array; bytes: number } {
  const enc = new OpusEncoderStage({ tier: t, dtx: false });
  const dec = new OpusDecoderStage();
  const parts: Int16Array[] = [];
  let bytes = 0;
  try {
    for (const f of frames(pcm, t.frameSamples)) {
      const e = enc.encode(f);
      assert.equal(e.kind, 'speech');
      if (e.kind !== 'speech') continue;
      bytes += e.payload.length;
      const d = dec.decode(e.payload);
      assert.ok(d.ok);
      parts.push(d.pcm);
    }
  } finally {
    enc.close();
    dec.close();
  }
  return { out: concat(...parts), bytes };
}

describe('quality tiers', () => {
  test('ids are contiguous, bitrates rise from about 6 to 64 kbps, FEC falls', () => {
    assert.ok(QUALITY_TIERS.length >= 5);
    QUALITY_TIERS.forEach((t, i) => {
      assert.equal(t.id, i);
      assert.equal(t.frameSamples, t.frameMs * 48);
      assert.ok([10, 20, 40, 60].includes(t.frameMs));
      assert.ok(t.fecDepth >= 0 && t.fecDepth <= 3);
      assert.ok(t.complexity >= 0 && t.complexity <= 10);
      const prev = QUALITY_TIERS[i - 1];
      if (prev) {
        assert.ok(t.bitrateBps > prev.bitrateBps);
        assert.ok(t.fecDepth <= prev.fecDepth);
        assert.ok(t.frameMs <= prev.frameMs);
      }
    });
    assert.equal(QUALITY_TIERS[0]?.bitrateBps, 6000);
    assert.ok((QUALITY_TIERS[0]?.frameMs ?? 0) >= 40, 'the lowest tier uses long frames');
    assert.equal(QUALITY_TIERS[QUALITY_TIERS.length - 1]?.bitrateBps, 64000);
  });

  test('tierById rejects what is not in the table; default and clamp stay inside', () => {
    assert.equal(tierById(DEFAULT_TIER_ID), DEFAULT_TIER);
    for (const bad of [-1, QUALITY_TIERS.length, 1.5, Number.NaN, Infinity]) {
      assert.equal(tierById(bad), undefined);
    }
    assert.equal(clampTierId(-5), 0);
    assert.equal(clampTierId(99), QUALITY_TIERS.length - 1);
  });
});

describe('Opus encode/decode', () => {
  for (const t of QUALITY_TIERS) {
    test(`a tone survives tier ${t.label}: same frequency, similar level`, () => {
      const input = sineTone({ freq: 440, durationMs: 1200, amplitude: 0.3 });
      const { out, bytes } = roundTrip(input, t);
      assert.equal(out.length, Math.floor(input.length / t.frameSamples) * t.frameSamples);
      const skip = RATE / 5; // codec warm-up
      const f = dominantFrequency(out, RATE, { start: skip, maxSamples: RATE / 2 });
      assert.ok(Math.abs(f - 440) < 3, `dominant ${f} Hz`);
      const levelIn = rmsDbfs(input, skip, out.length);
      const levelOut = rmsDbfs(out, skip, out.length);
      assert.ok(Math.abs(levelIn - levelOut) < 2, `level in ${levelIn} out ${levelOut}`);
      const kbps = (bytes * 8) / (out.length / RATE) / 1000;
      assert.ok(kbps < (t.bitrateBps / 1000) * 1.5 + 2, `${kbps} kbps for ${t.label}`);
    });
  }

  test('a voice-like signal keeps its pitch and level at the default tier', () => {
    const input = voiceLike(1500, { f0: 150 });
    const { out } = roundTrip(input, DEFAULT_TIER);
    const skip = RATE / 5;
    const f = dominantFrequency(out, RATE, { start: skip, maxSamples: RATE, maxHz: 400 });
    assert.ok(Math.abs(f - 150) < 8, `pitch ${f}`);
    assert.ok(Math.abs(rmsDbfs(input, skip, out.length) - rmsDbfs(out, skip, out.length)) < 3);
  });

  test('tier changes mid-stream: frame size and bitrate follow, audio stays intact', () => {
    const enc = new OpusEncoderStage({ tier: tier(3), dtx: false });
    const dec = new OpusDecoderStage();
    const plan = [tier(3), tier(0), tier(6), tier(1)];
    let t0 = 0;
    for (const t of plan) {
      enc.setTier(t);
      assert.equal(enc.tier, t);
      const seg = sineTone({ freq: 1000, durationMs: 960, amplitude: 0.3, phase: 0 });
      let bytes = 0;
      const outs: Int16Array[] = [];
      for (const f of frames(seg, t.frameSamples)) {
        const e = enc.encode(f);
        if (e.kind === 'suppressed') assert.fail('DTX is off');
        assert.equal(opusPacketSamples(e.payload), t.frameSamples);
        bytes += e.payload.length;
        const d = dec.decode(e.payload);
        assert.ok(d.ok);
        assert.equal(d.pcm.length, t.frameSamples);
        assert.equal(dec.lastFrameSamples, t.frameSamples);
        outs.push(d.pcm);
      }
      const out = concat(...outs);
      const f = dominantFrequency(out, RATE, { start: RATE / 5 });
      assert.ok(Math.abs(f - 1000) < 4, `${t.label}: ${f} Hz`);
      const kbps = (bytes * 8) / 0.96 / 1000;
      assert.ok(kbps < (t.bitrateBps / 1000) * 1.5 + 2, `${t.label}: ${kbps} kbps`);
      t0 += seg.length;
    }
    assert.ok(t0 > 0);
    enc.close();
    dec.close();
  });

  test('frames of a wrong length are refused (caller bug), valid lengths of another tier are not', () => {
    const enc = new OpusEncoderStage({ dtx: false });
    assert.throws(() => enc.encode(new Int16Array(1000)), RangeError);
    assert.equal(enc.encode(new Int16Array(480)).samples, 480);
    assert.equal(enc.encode(new Int16Array(2880)).samples, 2880);
    enc.close();
  });

  test('opusPacketSamples agrees with the decoder on real packets and rejects impossible ones', () => {
    for (const t of QUALITY_TIERS) {
      const enc = new OpusEncoderStage({ tier: t, dtx: false });
      const e = enc.encode(sineTone({ freq: 300, durationMs: t.frameMs }));
      enc.close();
      if (e.kind === 'suppressed') assert.fail('DTX is off');
      assert.equal(opusPacketSamples(e.payload), t.frameSamples);
    }
    assert.equal(opusPacketSamples(new Uint8Array(0)), null);
    assert.equal(opusPacketSamples(Uint8Array.of(0x01, 0, 0, 0)), null); // code 1, odd length
    assert.equal(opusPacketSamples(Uint8Array.of(0x03)), null); // code 3 without a count
    assert.equal(opusPacketSamples(Uint8Array.of(0x03, 0)), null); // zero frames
    assert.equal(opusPacketSamples(Uint8Array.of(0x1b, 3)), null); // 3 x 60 ms > 120 ms
    assert.equal(opusPacketSamples(Uint8Array.of(0xf8)), 960); // CELT FB 20 ms
  });
});

describe('Opus decoder: loss and garbage', () => {
  function primed(t: QualityTier): { dec: OpusDecoderStage; enc: OpusEncoderStage } {
    const enc = new OpusEncoderStage({ tier: t, dtx: false });
    const dec = new OpusDecoderStage();
    for (const f of frames(
      sineTone({ freq: 500, durationMs: 600, amplitude: 0.3 }),
      t.frameSamples,
    )) {
      const e = enc.encode(f);
      if (e.kind !== 'suppressed') dec.decode(e.payload);
    }
    return { dec, enc };
  }

  test('conceal() yields exactly one frame of the last size, and decoding resumes after it', () => {
    for (const id of [0, 1, 3, 6]) {
      const t = tier(id);
      const { dec, enc } = primed(t);
      const c = dec.conceal();
      assert.equal(c.length, t.frameSamples, `${t.label}`);
      // Right after a tone, concealment continues it instead of going silent.
      assert.ok(rmsDbfs(c) > -40, `${t.label}: concealment level ${rmsDbfs(c)}`);
      for (const n of [480, 960, 1920, 2880]) assert.equal(dec.conceal(n).length, n);
      const e = enc.encode(sineTone({ freq: 500, durationMs: t.frameMs, amplitude: 0.3 }));
      assert.ok(e.kind === 'speech');
      const d = dec.decode(e.payload);
      assert.ok(d.ok);
      assert.equal(d.pcm.length, t.frameSamples);
      assert.ok(dec.stats.concealedSamples >= t.frameSamples + 480 + 960 + 1920 + 2880);
      enc.close();
      dec.close();
    }
  });

  test('before any packet, concealment is silence of the requested size', () => {
    const dec = new OpusDecoderStage();
    const c = dec.conceal(960);
    assert.equal(c.length, 960);
    assert.ok(c.every((v) => v === 0));
    dec.close();
  });

  test('malformed packets are counted and concealed, never thrown', () => {
    const { dec, enc } = primed(DEFAULT_TIER);
    const bad = [
      new Uint8Array(0),
      Uint8Array.of(0x01, 0, 0, 0), // code 1 with an odd payload
      Uint8Array.of(0xfa, 250), // code 2 whose first frame is longer than the packet
      new Uint8Array(5000).fill(0x7f), // longer than any Opus packet
      Uint8Array.of(0x1b, 3), // 180 ms: more than the decoder buffer holds
    ];
    for (const p of bad) {
      const d = dec.decode(p);
      assert.equal(d.ok, false);
      assert.equal(d.pcm.length, DEFAULT_TIER.frameSamples);
    }
    assert.equal(dec.stats.packetsRejected, bad.length);
    const e = enc.encode(sineTone({ freq: 500, durationMs: 20 }));
    assert.ok(e.kind === 'speech');
    assert.ok(dec.decode(e.payload).ok, 'a good packet decodes after the bad ones');
    enc.close();
    dec.close();
  });

  test('random bytes never throw and never yield more than 60 ms', () => {
    const { dec, enc } = primed(DEFAULT_TIER);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 400 }), (bytes) => {
        const d = dec.decode(bytes);
        assert.ok(d.pcm.length > 0 && d.pcm.length <= 2880);
      }),
      { numRuns: 400, seed: 42 },
    );
    enc.close();
    dec.close();
  });

  test('close() frees once; afterwards the encoder refuses and the decoder returns silence', () => {
    const enc = new OpusEncoderStage();
    const dec = new OpusDecoderStage();
    enc.close();
    enc.close();
    dec.close();
    dec.close();
    assert.throws(() => enc.encode(new Int16Array(960)), /after close/);
    const d = dec.decode(Uint8Array.of(0xf8));
    assert.equal(d.ok, false);
    assert.ok(d.pcm.every((v) => v === 0));
  });
});

describe('DTX', () => {
  function run(pcm: Int16Array, t: QualityTier = DEFAULT_TIER): EncodedFrame[] {
    const enc = new OpusEncoderStage({ tier: t });
    try {
      return frames(pcm, t.frameSamples).map((f) => enc.encode(f));
    } finally {
      enc.close();
    }
  }

  test('silence stops packets after the hangover; keep-alives every ~400 ms; tones never cut', () => {
    const pcm = pattern([
      { kind: 'tone', ms: 1000, freq: 440, amplitude: 0.3 },
      { kind: 'silence', ms: 2000 },
      { kind: 'tone', ms: 1000, freq: 440, amplitude: 0.3 },
    ]);
    const out = run(pcm);
    assert.equal(out.length, 200);
    const toneA = out.slice(0, 50);
    const quiet = out.slice(50, 150);
    const toneB = out.slice(150);
    assert.ok(toneA.every((f) => f.kind === 'speech'));
    assert.ok(
      toneB.every((f) => f.kind === 'speech'),
      'the onset frame and all after are sent',
    );
    // Hangover: the first 200 ms of silence are still sent as ordinary frames.
    assert.ok(quiet.slice(0, 10).every((f) => f.kind === 'speech'));
    const sent = quiet.filter((f) => f.kind !== 'suppressed').length;
    const keepAlives = quiet.filter((f) => f.kind === 'comfort-noise').length;
    // 1.8 s of DTX: one keep-alive at its start, then one per 400 ms.
    assert.ok(keepAlives >= 4 && keepAlives <= 6, `${keepAlives} keep-alives`);
    assert.ok(sent <= 10 + 6, `${sent} packets in 2 s of silence`);
    assert.equal(quiet[10]?.kind, 'comfort-noise', 'DTX announces itself at once');
  });

  test('a tone starting in the last 2 ms of a frame is sent in that frame', () => {
    const pcm = concat(
      pattern([{ kind: 'silence', ms: 1000 + 18 }]),
      sineTone({ freq: 1000, durationMs: 200, amplitude: 0.3 }),
    );
    const out = run(pcm);
    assert.notEqual(out[49]?.kind, 'speech', 'in DTX before the onset');
    assert.equal(out[50]?.kind, 'speech', 'onset frame');
  });

  test('quiet steady noise enters DTX, speech-level sound does not (60 ms frames too)', () => {
    const t0 = tier(0);
    const noise = run(pattern([{ kind: 'noise', ms: 3000, amplitude: 0.002 }]), t0);
    assert.ok(noise.filter((f) => f.kind === 'suppressed').length > noise.length / 2);
    const loud = run(voiceLike(3000, { amplitude: 0.1 }), t0);
    assert.ok(loud.every((f) => f.kind === 'speech'));
  });

  test('DtxGate: loud frames are always sent, and silence is never left unannounced', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant(-120), fc.double({ min: -90, max: 0, noNaN: true })), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.constantFrom(10, 20, 40, 60),
        (levels, frameMs) => {
          const gate = new DtxGate();
          let sinceSent = 0;
          let sinceLoud = Infinity;
          for (const level of levels) {
            const d = gate.decide(level, frameMs);
            if (level > -30) assert.equal(d, 'speech');
            sinceLoud = level > -30 ? 0 : sinceLoud + frameMs;
            if (sinceLoud <= 200) assert.equal(d, 'speech', 'hangover');
            if (d === 'suppressed') {
              sinceSent += frameMs;
              assert.ok(sinceSent < 400, 'a keep-alive at least every 400 ms');
            } else sinceSent = 0;
          }
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  test('receiver: gaps after a keep-alive are quiet comfort noise, gaps after speech are concealed', () => {
    const enc = new OpusEncoderStage();
    const dec = new OpusDecoderStage();
    const pcm = pattern([
      { kind: 'tone', ms: 400, freq: 440, amplitude: 0.3 },
      { kind: 'noise', ms: 1000, amplitude: 0.003 },
    ]);
    const played: Int16Array[] = [];
    let cn = 0;
    for (const f of frames(pcm, 960)) {
      const e = enc.encode(f);
      if (e.kind === 'suppressed') {
        assert.ok(dec.inDtx);
        const gap = dec.fillGap(e.samples);
        assert.equal(gap.length, 960);
        cn++;
        played.push(gap);
      } else {
        played.push(dec.decode(e.payload, { comfortNoise: e.kind === 'comfort-noise' }).pcm);
      }
    }
    assert.ok(cn > 20, `${cn} comfort-noise frames`);
    assert.equal(dec.stats.concealedSamples, 0, 'DTX gaps are not treated as loss');
    assert.equal(dec.stats.comfortNoiseSamples, cn * 960);
    const tail = concat(...played.slice(-10));
    const level = rmsDbfs(tail);
    assert.ok(level < -45 && level > -80, `comfort noise at ${level} dBFS`);
    // Back to speech: a gap now is concealment.
    const e = enc.encode(sineTone({ freq: 440, durationMs: 20, amplitude: 0.3 }));
    assert.equal(e.kind, 'speech');
    if (e.kind === 'speech') dec.decode(e.payload);
    assert.equal(dec.inDtx, false);
    dec.fillGap(960);
    assert.equal(dec.stats.concealedSamples, 960);
    enc.close();
    dec.close();
  });

  test('DTX off sends every frame of silence', () => {
    const enc = new OpusEncoderStage({ dtx: false });
    const out = frames(new Int16Array(RATE), 960).map((f) => enc.encode(f));
    enc.close();
    assert.ok(out.every((f) => f.kind === 'speech'));
  });
});
