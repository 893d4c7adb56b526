// Tests that the Opus stages keep opusscript's shared WASM heap intact over a process's life:
// many encoders and decoders created and destroyed while others run long encode and decode
// sequences, every output bit-exact against a fresh instance, and release never throwing.
// opusscript 0.1.1's own JS wrapper wrote each encode's and decode's PCM at twice its buffer's
// address (outside its allocation), which corrupted other codecs and the allocator here.
// Also the binding's own guards: wrong frame sizes and oversized packets are refused with an
// error, and a released codec refuses to run.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OpusDecoderStage, OpusEncoderStage } from '../../src-main/engine/media/opus-codec.ts';
import { OpusWasmCodec } from '../../src-main/engine/media/opus-wasm.ts';
import { DEFAULT_TIER } from '../../src-main/engine/media/quality-tiers.ts';
import { frames, voiceLike } from '../support/fixtures.ts';

const FRAME = DEFAULT_TIER.frameSamples;
/** Two seconds of speech-like sound: every frame differs, so every packet and PCM frame does. */
const SIGNAL = [...frames(voiceLike(2000), FRAME)];

interface Reference {
  packets: Uint8Array[];
  decoded: Int16Array[];
}

/** What a fresh encoder and decoder, with no other codec at work, make of a signal. */
function reference(signal: readonly Int16Array[] = SIGNAL): Reference {
  const enc = new OpusEncoderStage({ dtx: false });
  const dec = new OpusDecoderStage();
  const packets: Uint8Array[] = [];
  const decoded: Int16Array[] = [];
  for (const f of signal) {
    const e = enc.encode(f);
    assert.equal(e.kind, 'speech');
    if (e.kind !== 'speech') continue;
    packets.push(e.payload);
    const d = dec.decode(e.payload);
    assert.ok(d.ok);
    decoded.push(d.pcm);
  }
  enc.close();
  dec.close();
  return { packets, decoded };
}

/** One codec pair walking a signal a few frames at a time, beside many others. */
class Walker {
  readonly enc = new OpusEncoderStage({ dtx: false });
  readonly dec = new OpusDecoderStage();
  next = 0;

  constructor(
    private readonly ref: Reference,
    private readonly signal: readonly Int16Array[] = SIGNAL,
  ) {}

  step(n: number): string | null {
    const ref = this.ref;
    for (let k = 0; k < n && this.next < this.signal.length; k++, this.next++) {
      const i = this.next;
      const e = this.enc.encode(this.signal[i] as Int16Array);
      if (e.kind !== 'speech') return `frame ${i}: ${e.kind}`;
      if (!Buffer.from(e.payload).equals(ref.packets[i] as Uint8Array)) {
        return `frame ${i}: packet differs from a fresh encoder's`;
      }
      // Decode the reference packet, so a decoder's fault is not hidden by an encoder's.
      const d = this.dec.decode(ref.packets[i] as Uint8Array);
      if (!d.ok) return `frame ${i}: decode refused`;
      const want = ref.decoded[i] as Int16Array;
      if (!Buffer.from(d.pcm.buffer).equals(Buffer.from(want.buffer))) {
        return `frame ${i}: PCM differs from a fresh decoder's`;
      }
    }
    return null;
  }

  get done(): boolean {
    return this.next >= this.signal.length;
  }

  close(): void {
    this.enc.close();
    this.dec.close();
  }
}

describe('Opus stages on one shared WASM heap', () => {
  test('codecs created and destroyed among long runs stay bit-exact; release never throws', () => {
    const ref = reference();
    // One pair runs through the whole test (the signal looped, 10 s) while the others come and go.
    const longSignal = Array.from({ length: 5 }, () => SIGNAL).flat();
    const long = new Walker(reference(longSignal), longSignal);
    const live: Walker[] = [];
    const faults: string[] = [];
    let created = 0;
    let released = 0;
    // Up to 10 codec pairs at once (a busy client: a call, a ringing second call, a test tone);
    // a new pair every round, each pair walking 3 frames a round, so pairs start and end at
    // staggered times and their buffers are reused by later allocations.
    for (let round = 0; round < 100; round++) {
      if (live.length < 10) {
        live.push(new Walker(ref));
        created++;
      }
      const longFault = long.step(5);
      if (longFault !== null) faults.push(`long pair: ${longFault}`);
      for (const w of live) {
        const fault = w.step(3);
        if (fault !== null) faults.push(`pair ${created}: ${fault}`);
      }
      for (let k = live.length - 1; k >= 0; k--) {
        const w = live[k] as Walker;
        // Finished pairs go, and every seventh round one in the middle of its run goes too.
        if (w.done || (round % 7 === 0 && k === Math.floor(live.length / 2))) {
          try {
            w.close();
          } catch (err) {
            faults.push(`release threw: ${(err as Error).message}`);
          }
          released++;
          live.splice(k, 1);
        }
      }
      if (faults.length > 0) break;
    }
    for (const w of live) w.close();
    long.close();
    assert.deepEqual(faults, [], `after ${created} pairs created, ${released} released`);
    assert.ok(long.done, 'the long pair ran its whole signal');
    assert.ok(created >= 40, `${created} codec pairs were exercised`);
    // The heap is still sound afterwards: a fresh pair reproduces the reference exactly.
    assert.deepEqual(reference(), ref);
  });
});

describe('OpusWasmCodec', () => {
  test('refuses PCM that does not hold exactly the frame, and packets over the Opus limit', () => {
    const codec = new OpusWasmCodec(48000, 1, OpusWasmCodec.Application.VOIP);
    try {
      assert.throws(() => codec.encode(new Uint8Array(FRAME * 2 - 2), FRAME), RangeError);
      assert.throws(() => codec.encode(new Uint8Array(FRAME * 2), 7), RangeError);
      assert.throws(() => codec.encode(new Uint8Array(5760 * 2), 5760), RangeError);
      assert.throws(() => codec.decode(new Uint8Array(OpusWasmCodec.MAX_PACKET_BYTES + 1)), {
        name: 'RangeError',
      });
      assert.throws(() => codec.decode(Uint8Array.of(0xff, 0xff, 0xff)), /Invalid packet/);
      // A refused call leaves the codec working.
      const packet = codec.encode(new Uint8Array(FRAME * 2), FRAME);
      assert.ok(packet.length > 0);
      assert.equal(codec.decode(packet).length, FRAME * 2);
    } finally {
      codec.delete();
    }
  });

  test('a released codec refuses to run and releasing twice is harmless', () => {
    const codec = new OpusWasmCodec(48000, 1, OpusWasmCodec.Application.VOIP);
    codec.delete();
    codec.delete();
    assert.throws(() => codec.encode(new Uint8Array(FRAME * 2), FRAME), /released/);
    assert.throws(() => codec.decode(Uint8Array.of(0x08)), /released/);
    assert.throws(() => codec.setBitrate(24000), /released/);
  });

  test('stereo frames round-trip with both channels', () => {
    const codec = new OpusWasmCodec(48000, 2, OpusWasmCodec.Application.AUDIO);
    try {
      const pcm = new Int16Array(FRAME * 2);
      // Left a loud 1 kHz tone, right silent.
      for (let i = 0; i < FRAME; i++)
        pcm[2 * i] = Math.round(12000 * Math.sin((2 * Math.PI * 1000 * i) / 48000));
      const bytes = new Uint8Array(pcm.buffer);
      let out: Int16Array = new Int16Array(0);
      for (let k = 0; k < 5; k++)
        out = new Int16Array(codec.decode(codec.encode(bytes, FRAME)).buffer);
      assert.equal(out.length, FRAME * 2);
      let left = 0;
      let right = 0;
      for (let i = 0; i < FRAME; i++) {
        left += Math.abs(out[2 * i] as number);
        right += Math.abs(out[2 * i + 1] as number);
      }
      assert.ok(left > 20 * right, `left ${left} right ${right}`);
    } finally {
      codec.delete();
    }
  });
});
