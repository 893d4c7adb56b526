// Media packet format: round trips, every field checked on decode, errors as values not throws.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  FLAG_DTX,
  FLAG_TALKSPURT_START,
  FRAME_DURATIONS_MS,
  MAX_BODY_SIZE,
  MAX_MEDIA_PACKET_SIZE,
  MEDIA_HEADER_SIZE,
  MEDIA_VERSION,
  decodeMediaBody,
  decodeMediaHeader,
  decodeMediaPacket,
  encodeMediaBody,
  encodeMediaHeader,
  encodeMediaPacket,
  splitMediaPacket,
} from '../../src-main/engine/media/media-packet.ts';
import type {
  FecDepth,
  MediaBody,
  MediaHeader,
  RedundantBlock,
} from '../../src-main/engine/media/media-packet.ts';

const header = (over: Partial<MediaHeader> = {}): MediaHeader => ({
  version: MEDIA_VERSION,
  flags: 0,
  tier: 3,
  seq: 1234,
  timestamp: 960 * 1234,
  durationMs: 20,
  fecDepth: 2,
  ...over,
});

const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);

function block(seqOffset: number, len: number, fill: number): RedundantBlock {
  return { seqOffset, tsOffset: seqOffset * 960, durationMs: 20, payload: bytes(len, fill) };
}

function expectError(r: { ok: boolean; error?: { kind: string } }, kind: string): void {
  assert.equal(r.ok, false);
  assert.equal(r.error?.kind, kind);
}

describe('media header', () => {
  test('round-trips every field at its limits', () => {
    for (const durationMs of FRAME_DURATIONS_MS) {
      for (const fecDepth of [0, 1, 2, 3] as FecDepth[]) {
        for (const [seq, timestamp, tier] of [
          [0, 0, 0],
          [0xffffffff, 0xffffffff, 15],
          [7, 123456789, 9],
        ] as const) {
          const h = header({ durationMs, fecDepth, seq, timestamp, tier, flags: FLAG_DTX });
          const enc = encodeMediaHeader(h);
          assert.equal(enc.length, MEDIA_HEADER_SIZE);
          const dec = decodeMediaHeader(enc);
          assert.deepEqual(dec, { ok: true, value: h });
        }
      }
    }
  });

  test('rejects short input, unknown version and unknown flag bits', () => {
    const good = encodeMediaHeader(header());
    expectError(decodeMediaHeader(good.subarray(0, MEDIA_HEADER_SIZE - 1)), 'too-short');
    const v2 = good.slice();
    v2[0] = 2;
    expectError(decodeMediaHeader(v2), 'bad-version');
    const v0 = good.slice();
    v0[0] = 0;
    expectError(decodeMediaHeader(v0), 'bad-version');
    const fl = good.slice();
    fl[1] = 0x80;
    expectError(decodeMediaHeader(fl), 'bad-flags');
    fl[1] = FLAG_DTX | FLAG_TALKSPURT_START;
    assert.equal(decodeMediaHeader(fl).ok, true);
    expectError(decodeMediaHeader(new Uint8Array(MAX_MEDIA_PACKET_SIZE + 1).fill(1)), 'too-long');
  });

  test('encode refuses invalid local values', () => {
    assert.throws(() => encodeMediaHeader(header({ tier: 16 })), RangeError);
    assert.throws(() => encodeMediaHeader(header({ seq: -1 })), RangeError);
    assert.throws(() => encodeMediaHeader(header({ seq: 2 ** 32 })), RangeError);
    assert.throws(() => encodeMediaHeader(header({ timestamp: 1.5 })), RangeError);
    assert.throws(() => encodeMediaHeader(header({ flags: 0x40 })), RangeError);
    assert.throws(() => encodeMediaHeader(header({ durationMs: 30 as 20 })), RangeError);
    assert.throws(() => encodeMediaHeader(header({ fecDepth: 4 as 3 })), RangeError);
  });
});

describe('media body', () => {
  test('round-trips the primary with 0..3 redundant blocks, newest first', () => {
    for (let n = 0; n <= 3; n++) {
      const redundant = [
        block(1, 30, 1),
        block(2, 40, 2),
        { ...block(4, 5, 3), durationMs: 60 as const },
      ].slice(0, n);
      const body: MediaBody = { primary: bytes(60, 9), redundant };
      const enc = encodeMediaBody(body);
      const dec = decodeMediaBody(enc, header({ fecDepth: 3 }));
      assert.ok(dec.ok);
      assert.deepEqual(dec.value, body);
    }
  });

  test('puts redundant blocks on the wire oldest first, primary last (RFC 2198 order)', () => {
    const enc = encodeMediaBody({
      primary: bytes(2, 0xaa),
      redundant: [block(1, 1, 0x11), block(2, 1, 0x22)],
    });
    assert.equal(enc[0], 2);
    assert.equal(enc[1], 2, 'first block header is the oldest (offset 2)');
    assert.deepEqual([...enc.subarray(enc.length - 4)], [0x22, 0x11, 0xaa, 0xaa]);
  });

  test('decoded payloads do not alias the input buffer', () => {
    const enc = encodeMediaBody({ primary: bytes(3, 7), redundant: [block(1, 2, 5)] });
    const dec = decodeMediaBody(enc);
    assert.ok(dec.ok);
    enc.fill(0);
    assert.deepEqual([...dec.value.primary], [7, 7, 7]);
    assert.deepEqual([...(dec.value.redundant[0]?.payload ?? [])], [5, 5]);
  });

  test('checks every field of the body', () => {
    const good = encodeMediaBody({
      primary: bytes(10, 1),
      redundant: [block(1, 4, 2), block(2, 4, 3)],
    });
    expectError(decodeMediaBody(new Uint8Array(0)), 'too-short');
    expectError(decodeMediaBody(new Uint8Array(MAX_BODY_SIZE + 1).fill(0)), 'too-long');
    const many = good.slice();
    many[0] = 4;
    expectError(decodeMediaBody(many), 'bad-block-count');
    expectError(decodeMediaBody(good, header({ fecDepth: 1 })), 'bad-block-count');
    expectError(decodeMediaBody(good.subarray(0, 7)), 'truncated');
    expectError(decodeMediaBody(good.subarray(0, 1 + 10 + 5)), 'truncated');
    // Blocks present, no primary left.
    expectError(decodeMediaBody(good.subarray(0, 1 + 10 + 8)), 'empty-payload');
    expectError(decodeMediaBody(Uint8Array.of(0)), 'empty-payload');
    // Wire order is oldest first: a seq offset of 0, equal offsets, zero ts offset, empty block.
    const zeroSeq = good.slice();
    zeroSeq[6] = 0;
    expectError(decodeMediaBody(zeroSeq), 'bad-block');
    const sameSeq = good.slice();
    sameSeq[6] = 2;
    expectError(decodeMediaBody(sameSeq), 'bad-block');
    const zeroTs = good.slice();
    zeroTs[7] = 0;
    zeroTs[8] = 0;
    expectError(decodeMediaBody(zeroTs), 'bad-block');
    const emptyBlock = encodeMediaBody({ primary: bytes(10, 1), redundant: [block(1, 4, 2)] });
    emptyBlock[4] = 0;
    emptyBlock[5] = 0;
    expectError(decodeMediaBody(emptyBlock), 'bad-block');
  });

  test('encode refuses malformed bodies', () => {
    assert.throws(() => encodeMediaBody({ primary: new Uint8Array(0), redundant: [] }), RangeError);
    assert.throws(
      () => encodeMediaBody({ primary: bytes(1, 1), redundant: [block(2, 1, 1), block(1, 1, 1)] }),
      RangeError,
    );
    assert.throws(
      () => encodeMediaBody({ primary: bytes(MAX_BODY_SIZE, 1), redundant: [] }),
      RangeError,
    );
    assert.throws(
      () =>
        encodeMediaPacket({
          header: header({ fecDepth: 0 }),
          body: { primary: bytes(1, 1), redundant: [block(1, 1, 1)] },
        }),
      RangeError,
    );
  });
});

describe('whole packet', () => {
  const arbBody = fc
    .tuple(
      fc.uint8Array({ minLength: 1, maxLength: 300 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 255 }), { maxLength: 3 }),
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { minLength: 3, maxLength: 3 }),
      fc.constantFrom(...FRAME_DURATIONS_MS),
    )
    .map(([primary, offs, payloads, durationMs]): MediaBody => ({
      primary,
      redundant: [...offs]
        .sort((a, b) => a - b)
        .map((seqOffset, i) => ({
          seqOffset,
          tsOffset: seqOffset * 240,
          durationMs,
          payload: payloads[i] ?? new Uint8Array(1),
        })),
    }));
  const arbHeader = fc.record({
    version: fc.constant(MEDIA_VERSION),
    flags: fc.constantFrom(0, FLAG_DTX, FLAG_TALKSPURT_START, FLAG_DTX | FLAG_TALKSPURT_START),
    tier: fc.integer({ min: 0, max: 15 }),
    seq: fc.integer({ min: 0, max: 0xffffffff }),
    timestamp: fc.integer({ min: 0, max: 0xffffffff }),
    durationMs: fc.constantFrom(...FRAME_DURATIONS_MS),
    fecDepth: fc.constant(3 as FecDepth),
  });

  test('any valid packet round-trips and split gives the AAD and body ranges', () => {
    fc.assert(
      fc.property(arbHeader, arbBody, (rec, body) => {
        const h: MediaHeader = { ...rec };
        const wire = encodeMediaPacket({ header: h, body });
        assert.ok(wire.length <= MAX_MEDIA_PACKET_SIZE);
        assert.deepEqual(decodeMediaPacket(wire), { ok: true, value: { header: h, body } });
        const split = splitMediaPacket(wire);
        assert.ok(split.ok);
        assert.deepEqual(split.value.headerBytes, encodeMediaHeader(h));
        assert.deepEqual(split.value.bodyBytes, encodeMediaBody(body));
      }),
    );
  });

  test('arbitrary bytes never throw, and whatever decodes re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 1300, size: 'medium' }), (raw) => {
        // Make the version byte right half the time so the body decoder gets exercised.
        const input = raw.slice();
        if (input.length > 12 && (input[input.length - 1] ?? 0) % 2 === 0) {
          input[0] = MEDIA_VERSION;
          input[1] = (input[1] ?? 0) & 3;
          input[2] = (input[2] ?? 0) | 3;
          input[11] = (input[11] ?? 0) & 3;
        }
        const r = decodeMediaPacket(input);
        if (r.ok) assert.deepEqual(encodeMediaPacket(r.value), input);
        else assert.equal(typeof r.error.detail, 'string');
      }),
      { numRuns: 2000 },
    );
  });
});
