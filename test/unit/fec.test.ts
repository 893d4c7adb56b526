// Packet-level FEC: which copies ride along at each depth, the size budget, wrap-around, and
// seeded loss simulations through the real wire format (and through the jitter buffer).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_FEC_OFFSETS,
  FecDecoder,
  FecEncoder,
  framesFromPacket,
} from '../../src-main/engine/media/fec.ts';
import type { OutgoingFrame } from '../../src-main/engine/media/fec.ts';
import { JitterBuffer } from '../../src-main/engine/media/jitter-buffer.ts';
import {
  FLAG_DTX,
  MAX_MEDIA_PACKET_SIZE,
  MEDIA_HEADER_SIZE,
  splitMediaPacket,
} from '../../src-main/engine/media/media-packet.ts';
import type { FecDepth, MediaFrame } from '../../src-main/engine/media/media-packet.ts';
import { mulberry32 } from '../support/impairment-model.ts';

/** Seeded, so every simulation is reproducible. */
const rng = mulberry32;

const frame = (seq: number, len = 40, ms: 20 | 60 = 20): OutgoingFrame => ({
  seq: seq >>> 0,
  timestamp: Math.imul(seq, ms * 48) >>> 0,
  durationMs: ms,
  payload: new Uint8Array(len).fill(seq & 0xff),
});

/** Sender → wire → receiver, the way the call engine does it (minus encryption). */
function wire(enc: FecEncoder, f: OutgoingFrame, depth: FecDepth): Uint8Array {
  const p = enc.encode(f, depth);
  const out = new Uint8Array(p.headerBytes.length + p.bodyBytes.length);
  out.set(p.headerBytes, 0);
  out.set(p.bodyBytes, p.headerBytes.length);
  return out;
}

function receive(dec: FecDecoder, packet: Uint8Array): MediaFrame[] {
  const split = splitMediaPacket(packet);
  assert.ok(split.ok);
  const frames = dec.receive(split.value.header, split.value.bodyBytes);
  assert.ok(frames.ok);
  return frames.value;
}

describe('FecEncoder', () => {
  test('attaches copies at the default offsets for each depth', () => {
    for (const depth of [1, 2, 3] as const) {
      const enc = new FecEncoder();
      let last;
      for (let s = 100; s <= 110; s++) last = enc.encode(frame(s), depth);
      assert.ok(last);
      assert.deepEqual(
        last.body.redundant.map((b) => b.seqOffset),
        [...DEFAULT_FEC_OFFSETS[depth]],
      );
      for (const b of last.body.redundant) {
        assert.equal(b.tsOffset, b.seqOffset * 960);
        assert.deepEqual(b.payload, frame(110 - b.seqOffset).payload);
      }
      assert.equal(last.header.fecDepth, depth);
    }
  });

  test('depth can change on every packet, and copies only reference frames it was given', () => {
    const enc = new FecEncoder();
    assert.equal(enc.encode(frame(0), 3).body.redundant.length, 0, 'nothing before the first');
    assert.deepEqual(
      enc.encode(frame(1), 3).body.redundant.map((b) => b.seqOffset),
      [1],
    );
    assert.equal(enc.encode(frame(2), 0).body.redundant.length, 0);
    assert.deepEqual(
      enc.encode(frame(3), 2).body.redundant.map((b) => b.seqOffset),
      [1, 3],
    );
    // seq 4 skipped by the caller: offset 1 (seq 4) is missing, offsets 2 and 4 exist.
    assert.deepEqual(
      enc.encode(frame(5), 3).body.redundant.map((b) => b.seqOffset),
      [2, 4],
    );
    assert.deepEqual(
      enc.encode(frame(6), 3).body.redundant.map((b) => b.seqOffset),
      [1, 4],
      'offset 2 would be the skipped seq 4',
    );
  });

  test('custom offsets are used and bad ones rejected', () => {
    const enc = new FecEncoder({ offsets: { 2: [2, 5] } });
    let p;
    for (let s = 0; s < 10; s++) p = enc.encode(frame(s), 2);
    assert.deepEqual(
      p?.body.redundant.map((b) => b.seqOffset),
      [2, 5],
    );
    assert.throws(() => new FecEncoder({ offsets: { 2: [1] } }), RangeError);
    assert.throws(() => new FecEncoder({ offsets: { 3: [1, 1, 2] } }), RangeError);
    assert.throws(() => new FecEncoder({ offsets: { 1: [0] } }), RangeError);
    assert.throws(() => new FecEncoder({ offsets: { 1: [256] } }), RangeError);
  });

  test('never exceeds the size budget and drops the oldest copy first', () => {
    const reserved = 16;
    const enc = new FecEncoder({ reservedBytes: reserved });
    const budget = MAX_MEDIA_PACKET_SIZE - reserved;
    for (let s = 0; s < 4; s++) enc.encode(frame(s, 400), 3);
    const droppedBefore = enc.stats.droppedRedundancy;
    const p = enc.encode(frame(4, 400), 3);
    assert.ok(p.headerBytes.length + p.bodyBytes.length <= budget);
    assert.deepEqual(
      p.body.redundant.map((b) => b.seqOffset),
      [1],
      'offsets 2 and 4 dropped, offset 1 kept',
    );
    assert.equal(p.droppedRedundancy, 2);
    assert.equal(enc.stats.droppedRedundancy - droppedBefore, 2);
    // Sizes just around the limit, across many packets.
    const enc2 = new FecEncoder({ reservedBytes: reserved });
    const r = rng(7);
    for (let s = 0; s < 500; s++) {
      const len = 1 + Math.floor(r() * (budget - MEDIA_HEADER_SIZE - 1));
      const q = enc2.encode(frame(s, len), 3);
      assert.ok(q.headerBytes.length + q.bodyBytes.length <= budget);
    }
    assert.throws(() => enc.encode(frame(5, budget), 1), RangeError);
  });

  test('sequence numbers and timestamps wrap around u32', () => {
    const enc = new FecEncoder();
    const dec = new FecDecoder();
    const start = 0xffffffff - 2;
    let frames: MediaFrame[] = [];
    for (let i = 0; i < 6; i++) {
      const s = (start + i) >>> 0;
      frames = receive(
        dec,
        wire(enc, { ...frame(0), seq: s, timestamp: (0xffffff00 + i * 960) >>> 0 }, 3),
      );
    }
    // Last primary is seq start+5 = 2; copies are seqs 1, 0 and 0xfffffffe.
    assert.deepEqual(
      frames.map((f) => f.seq),
      [2, 1, 0, 0xfffffffe],
    );
    assert.deepEqual(
      frames.map((f) => f.timestamp),
      [5, 4, 3, 1].map((i) => (0xffffff00 + i * 960) >>> 0),
    );
    assert.deepEqual(
      frames.map((f) => f.recovered === true),
      [false, true, true, true],
    );
  });

  test('a timestamp jump stops copies that could not be placed', () => {
    const enc = new FecEncoder();
    enc.encode(frame(1), 1);
    const p = enc.encode({ ...frame(2), timestamp: 5 }, 1);
    assert.equal(p.body.redundant.length, 0);
  });
});

describe('FecDecoder', () => {
  test('yields the primary then recovered frames with their own durations and DTX flag', () => {
    const enc = new FecEncoder();
    enc.encode(frame(10, 30, 60), 1);
    const p = enc.encode({ ...frame(11, 30, 20), timestamp: 11 * 2880, flags: FLAG_DTX }, 1);
    const frames = framesFromPacket(p.header, p.body);
    assert.equal(frames.length, 2);
    assert.deepEqual(frames[0], {
      seq: 11,
      timestamp: 11 * 2880,
      durationSamples: 960,
      payload: frame(11, 30).payload,
      dtx: true,
    });
    assert.deepEqual(frames[1], {
      seq: 10,
      timestamp: 10 * 2880,
      durationSamples: 2880,
      payload: frame(10, 30).payload,
      recovered: true,
    });
  });

  test('counts malformed bodies instead of throwing', () => {
    const enc = new FecEncoder();
    const p = enc.encode(frame(1), 1);
    const dec = new FecDecoder();
    const bad = dec.receive(p.header, Uint8Array.of(3, 1, 2));
    assert.equal(bad.ok, false);
    assert.equal(dec.stats.malformed, 1);
    assert.equal(dec.receive(p.header, p.bodyBytes).ok, true);
    assert.equal(dec.stats.packets, 1);
  });
});

/** Fraction of frames the receiver never obtains, primary or copy, under independent loss. */
function lossAfterRecovery(
  depth: FecDepth,
  lossRate: number,
  frames: number,
  seed: number,
): number {
  const r = rng(seed);
  const enc = new FecEncoder();
  const dec = new FecDecoder();
  const got = new Set<number>();
  for (let s = 0; s < frames; s++) {
    const packet = wire(enc, frame(s), depth);
    if (r() < lossRate) continue;
    for (const f of receive(dec, packet)) got.add(f.seq);
  }
  // The last frames cannot be recovered by packets that were never sent; leave them out.
  let lost = 0;
  const judged = frames - 4;
  for (let s = 0; s < judged; s++) if (!got.has(s)) lost++;
  return lost / judged;
}

describe('loss simulation (seeded)', () => {
  test('depth 0 at 10 % random loss loses about 10 % of frames', () => {
    const lost = lossAfterRecovery(0, 0.1, 20_000, 1);
    assert.ok(lost > 0.085 && lost < 0.115, `lost ${lost}`);
  });

  test('depth 2 at 10 % random loss loses far fewer than 1 % of frames', () => {
    for (const seed of [1, 2, 3]) {
      const lost = lossAfterRecovery(2, 0.1, 20_000, seed);
      // Independent loss of three packets in a row: about 0.1 %.
      assert.ok(lost < 0.004, `seed ${seed}: lost ${lost}`);
    }
  });

  test('depth 1 sits in between (about 1 %), so depth really matters', () => {
    const lost = lossAfterRecovery(1, 0.1, 20_000, 4);
    assert.ok(lost > 0.005 && lost < 0.02, `lost ${lost}`);
  });

  test('through the jitter buffer: depth 2 at 10 % loss conceals under 1 % of ticks', () => {
    const r = rng(42);
    const enc = new FecEncoder();
    const dec = new FecDecoder();
    const jb = new JitterBuffer();
    // Copies at offset 2 arrive two frames late: the buffer must hold that much (plus a frame).
    jb.setMinimumDelay(60);
    const frames = 3000;
    const arrivals: { at: number; packet: Uint8Array }[] = [];
    for (let s = 0; s < frames; s++) {
      const packet = wire(enc, frame(s), 2);
      if (r() < 0.1) continue;
      arrivals.push({ at: s * 20 + 30 + r() * 10, packet });
    }
    arrivals.sort((a, b) => a.at - b.at);
    let i = 0;
    let started = false;
    let ticks = 0;
    let concealed = 0;
    for (let now = 5; now < frames * 20; now += 20) {
      while (i < arrivals.length && (arrivals[i]?.at ?? Infinity) <= now) {
        const a = arrivals[i++];
        if (a === undefined) break;
        for (const f of receive(dec, a.packet)) jb.push(f, a.at);
      }
      const out = jb.pull(now);
      if (out.kind !== 'silence') started = true;
      if (started) {
        ticks++;
        if (out.kind === 'conceal') concealed++;
      }
    }
    assert.ok(ticks > 2900, `ticks ${ticks}`);
    assert.ok(concealed / ticks < 0.01, `concealed ${concealed} of ${ticks}`);
    assert.ok(jb.stats.recovered > 200, `recovered ${jb.stats.recovered}`);
  });
});
