// Unit tests of the relay media wire format: round trips, MAC tamper detection, the replay
// window against a reference model, the client channel, and hostile bytes never throwing.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  RELAY_FRAME_MAX_PAYLOAD,
  RELAY_FRAME_OVERHEAD,
  REPLAY_WINDOW_SIZE,
  RelayFrameError,
  RelayFrameType,
  RelayMediaChannel,
  decodeRelayFrame,
  encodeRelayFrame,
  isRelayFrameByte,
  parseRelayFrameHeader,
  relayReplayWindow,
} from '../../src-main/engine/transport/relay-media-frame.ts';

const key = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);
const types = Object.values(RelayFrameType);

describe('relay media frame', () => {
  test('round trip of every type, any channel, counter and payload', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...types),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ maxLength: RELAY_FRAME_MAX_PAYLOAD }),
        (type, channelId, counter, payload) => {
          const buf = encodeRelayFrame(type, channelId, counter, payload, key);
          assert.equal(buf.length, payload.length + RELAY_FRAME_OVERHEAD);
          const r = decodeRelayFrame(buf, key);
          assert.ok(r.ok);
          assert.equal(r.frame.type, type);
          assert.equal(r.frame.channelId, channelId);
          assert.equal(r.frame.counter, counter);
          assert.deepEqual(new Uint8Array(r.frame.payload), payload);
        },
      ),
    );
  });

  test('the first byte never collides with STUN (0x00..0x03) or QUIC (0x40 bit set)', () => {
    for (const t of types) {
      assert.ok(t > 0x03 && (t & 0x40) === 0, `type ${t}`);
      assert.ok(isRelayFrameByte(t));
    }
    assert.ok(!isRelayFrameByte(0x00) && !isRelayFrameByte(0x40) && !isRelayFrameByte(0xc0));
  });

  test('flipping any bit makes the frame fail (bad MAC or bad header)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (payload, pos, bit) => {
          const buf = encodeRelayFrame(RelayFrameType.ClientData, 42, 9, payload, key);
          const i = pos % buf.length;
          buf[i] = (buf[i] as number) ^ (1 << bit);
          const r = decodeRelayFrame(buf, key);
          assert.equal(r.ok, false);
        },
      ),
    );
  });

  test('a frame verifies only under its own key', () => {
    const buf = encodeRelayFrame(RelayFrameType.ClientData, 1, 1, Buffer.from('hi'), key);
    const r = decodeRelayFrame(buf, otherKey);
    assert.deepEqual(r, { ok: false, reason: 'bad-mac' });
  });

  test('length bounds and type are checked before anything else', () => {
    assert.deepEqual(parseRelayFrameHeader(Buffer.alloc(RELAY_FRAME_OVERHEAD - 1, 0x18)), {
      ok: false,
      reason: 'too-short',
    });
    const big = Buffer.alloc(RELAY_FRAME_OVERHEAD + RELAY_FRAME_MAX_PAYLOAD + 1, 0x18);
    assert.deepEqual(parseRelayFrameHeader(big), { ok: false, reason: 'too-long' });
    assert.deepEqual(parseRelayFrameHeader(Buffer.alloc(40, 0x41)), {
      ok: false,
      reason: 'bad-type',
    });
  });

  test('the encoder refuses bad arguments with typed errors', () => {
    const codeOf = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        return e instanceof RelayFrameError ? e.code : 'other';
      }
      return undefined;
    };
    assert.equal(
      codeOf(() => encodeRelayFrame(0x18, 1, 1, new Uint8Array(1), Buffer.alloc(16))),
      'bad-key',
    );
    assert.equal(
      codeOf(() => encodeRelayFrame(0x18, -1, 1, new Uint8Array(1), key)),
      'bad-channel',
    );
    assert.equal(
      codeOf(() => encodeRelayFrame(0x18, 1, 2 ** 32, new Uint8Array(1), key)),
      'bad-counter',
    );
    assert.equal(
      codeOf(() => encodeRelayFrame(0x18, 1, 1, new Uint8Array(RELAY_FRAME_MAX_PAYLOAD + 1), key)),
      'payload-too-large',
    );
    assert.equal(
      codeOf(() => encodeRelayFrame(0x40 as RelayFrameType, 1, 1, new Uint8Array(1), key)),
      'bad-type',
    );
  });

  test('random bytes never throw from the decoder or the client channel', () => {
    const ch = new RelayMediaChannel(5, key);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), (bytes) => {
        const buf = Buffer.from(bytes);
        const r = decodeRelayFrame(buf, key);
        assert.equal(r.ok, false);
        assert.equal(ch.receive(buf).kind, 'drop');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('replay window', () => {
  test('matches a reference model: each counter once, nothing too far behind the highest', () => {
    // Commands: advance the sender, send something late, or re-send a counter offered before
    // (at any distance, which is what exercises the ring's reuse of its words).
    const cmd = fc.oneof(
      fc.record({ op: fc.constant('advance' as const), n: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ op: fc.constant('jump' as const), n: fc.integer({ min: 0, max: 0xffffffff }) }),
      fc.record({ op: fc.constant('late' as const), n: fc.integer({ min: 0, max: 300 }) }),
      fc.record({ op: fc.constant('resend' as const), n: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(cmd, { maxLength: 300 }), (cmds) => {
        const w = relayReplayWindow();
        const seen = new Set<number>();
        const offered: number[] = [];
        let highest = -1;
        let cur = 0;
        for (const { op, n } of cmds) {
          let c: number;
          if (op === 'advance') c = cur = Math.min(0xffffffff, cur + n);
          else if (op === 'jump') c = cur = Math.max(cur, n);
          else if (op === 'late') c = Math.max(0, cur - n);
          else c = offered.length > 0 ? (offered[n % offered.length] as number) : 0;
          offered.push(c);
          const expected = !seen.has(c) && (c > highest || highest - c < REPLAY_WINDOW_SIZE);
          assert.equal(w.check(c) === 'ok', expected, `check ${c} highest ${highest}`);
          assert.equal(w.accept(c) === 'ok', expected, `counter ${c} highest ${highest}`);
          if (expected) {
            seen.add(c);
            highest = Math.max(highest, c);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  test('rejects out-of-range counters', () => {
    const w = relayReplayWindow();
    assert.equal(w.accept(-1), 'invalid');
    assert.equal(w.accept(2 ** 32), 'invalid');
    assert.equal(w.accept(1.5), 'invalid');
    assert.equal(w.accept(0), 'ok');
    assert.equal(w.accept(0), 'duplicate');
  });
});

describe('client relay channel', () => {
  test('accepts frames from the relay once, rejects its own reflected frames', () => {
    const ch = new RelayMediaChannel(77, key);
    const own = ch.encodeData(Buffer.from('ciphertext'));
    assert.deepEqual(ch.receive(own), { kind: 'drop', reason: 'wrong-direction' });

    const fromRelay = encodeRelayFrame(RelayFrameType.RelayData, 77, 0, Buffer.from('peer'), key);
    const r = ch.receive(fromRelay);
    assert.equal(r.kind, 'data');
    assert.equal(r.kind === 'data' && r.payload.toString(), 'peer');
    assert.deepEqual(ch.receive(fromRelay), { kind: 'drop', reason: 'replay' });

    const wrongChannel = encodeRelayFrame(RelayFrameType.RelayData, 78, 1, Buffer.from('x'), key);
    assert.deepEqual(ch.receive(wrongChannel), { kind: 'drop', reason: 'wrong-channel' });
  });

  test('bind acks echo the bind counter', () => {
    const ch = new RelayMediaChannel(3, key);
    ch.encodeData(Buffer.alloc(10));
    const bind = ch.encodeBind();
    const h = parseRelayFrameHeader(bind);
    assert.ok(h.ok && h.header.type === RelayFrameType.ClientBind && h.header.counter === 1);
    const echo = Buffer.alloc(4);
    echo.writeUInt32BE(1, 0);
    const ack = encodeRelayFrame(RelayFrameType.RelayBindAck, 3, 0, echo, key);
    assert.deepEqual(ch.receive(ack), { kind: 'bind-ack', echoedCounter: 1, counter: 0 });
  });
});
