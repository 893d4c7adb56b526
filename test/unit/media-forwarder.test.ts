// Unit tests of the relay's forwarding logic with a fake clock: grants and peers, re-framing
// under the peer's key, replay and tamper rejection, address learning, the per-identity rate
// cap, per-call counters, and random datagrams never throwing and always being counted.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MediaForwarder,
  MediaGrantError,
  DROP_REASONS,
} from '../../src-main/relay/media-forwarder.ts';
import type {
  Endpoint,
  ForwardAction,
  MediaForwarderOptions,
} from '../../src-main/relay/media-forwarder.ts';
import {
  RelayFrameType,
  RelayMediaChannel,
  encodeRelayFrame,
} from '../../src-main/engine/transport/relay-media-frame.ts';

const A: Endpoint = { address: '10.0.0.1', port: 4000 };
const B: Endpoint = { address: '10.0.0.2', port: 5000 };
const EVIL: Endpoint = { address: '10.6.6.6', port: 6666 };

function setup(opts: MediaForwarderOptions = {}) {
  let t = 1000;
  const fwd = new MediaForwarder({ now: () => t, ...opts });
  const ga = fwd.grant('call-1', 'fp-alice');
  const gb = fwd.grant('call-1', 'fp-bob');
  const alice = new RelayMediaChannel(ga.channelId, ga.key);
  const bob = new RelayMediaChannel(gb.channelId, gb.key);
  return {
    fwd,
    ga,
    gb,
    alice,
    bob,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function bound() {
  const s = setup();
  assert.equal(s.fwd.handleDatagram(s.alice.encodeBind(), A)?.port, A.port);
  assert.equal(s.fwd.handleDatagram(s.bob.encodeBind(), B)?.port, B.port);
  return s;
}

function sumDrops(fwd: MediaForwarder): number {
  const d = fwd.counters().drops;
  return DROP_REASONS.reduce((n, r) => n + d[r], 0);
}

describe('media forwarder', () => {
  test('grants: distinct channels and keys, idempotent per party, a third party is refused', () => {
    const fwd = new MediaForwarder();
    const a = fwd.grant('c', 'x');
    const b = fwd.grant('c', 'y');
    assert.notEqual(a.channelId, b.channelId);
    assert.ok(!a.key.equals(b.key));
    assert.equal(a.key.length, 32);
    const again = fwd.grant('c', 'x');
    assert.equal(again.channelId, a.channelId);
    assert.ok(again.key.equals(a.key));
    assert.throws(
      () => fwd.grant('c', 'z'),
      (e: unknown) => e instanceof MediaGrantError && e.code === 'call-full',
    );
    assert.throws(
      () => fwd.grant('', 'z'),
      (e: unknown) => e instanceof MediaGrantError && e.code === 'bad-argument',
    );
    const small = new MediaForwarder({ maxAllocations: 1 });
    small.grant('c', 'x');
    assert.throws(
      () => small.grant('d', 'y'),
      (e: unknown) => e instanceof MediaGrantError && e.code === 'capacity',
    );
  });

  test('a bind is answered with an ack under the sender key that echoes its counter', () => {
    const s = setup();
    s.alice.encodeData(Buffer.alloc(1)); // counter 0 is used; the bind gets counter 1
    const out = s.fwd.handleDatagram(s.alice.encodeBind(), A);
    assert.ok(out);
    assert.deepEqual({ address: out.address, port: out.port }, A);
    assert.deepEqual(s.alice.receive(out.data), { kind: 'bind-ack', echoedCounter: 1, counter: 0 });
    assert.equal(s.fwd.counters().bindAcks, 1);
  });

  test('media is dropped until the peer has an address, then forwarded under the peer key', () => {
    const s = setup();
    s.fwd.handleDatagram(s.alice.encodeBind(), A);
    assert.equal(s.fwd.handleDatagram(s.alice.encodeData(Buffer.from('early')), A), null);
    assert.equal(s.fwd.counters().drops.peerAddressUnknown, 1);

    s.fwd.handleDatagram(s.bob.encodeBind(), B);
    const out = s.fwd.handleDatagram(
      s.alice.encodeData(Buffer.from('hello bob')),
      A,
    ) as ForwardAction;
    assert.deepEqual({ address: out.address, port: out.port }, B);
    const r = s.bob.receive(out.data);
    assert.equal(r.kind, 'data');
    assert.equal(r.kind === 'data' && r.payload.toString(), 'hello bob');
    // Alice's key does not verify it: the relay re-framed under Bob's allocation.
    assert.equal(s.alice.receive(out.data).kind, 'drop');

    const back = s.fwd.handleDatagram(
      s.bob.encodeData(Buffer.from('hi alice')),
      B,
    ) as ForwardAction;
    assert.deepEqual({ address: back.address, port: back.port }, A);
    const rb = s.alice.receive(back.data);
    assert.equal(rb.kind === 'data' && rb.payload.toString(), 'hi alice');
  });

  test('per-call counters count frames and bytes each way', () => {
    const s = bound();
    for (let i = 0; i < 5; i++) s.fwd.handleDatagram(s.alice.encodeData(Buffer.alloc(100)), A);
    for (let i = 0; i < 3; i++) s.fwd.handleDatagram(s.bob.encodeData(Buffer.alloc(50)), B);
    const st = s.fwd.callStats('call-1');
    assert.ok(st);
    const [pa, pb] = st.parties;
    assert.ok(pa && pb);
    assert.equal(pa.fingerprint, 'fp-alice');
    // rx includes the bind; tx includes the bind ack.
    assert.equal(pa.rxFrames, 6);
    assert.equal(pa.rxBytes, 17 + 5 * 117);
    assert.equal(pb.txFrames, 1 + 5);
    assert.equal(pb.txBytes, 21 + 5 * 117);
    assert.equal(pb.rxFrames, 4);
    assert.equal(pa.txFrames, 1 + 3);
    assert.equal(s.fwd.counters().forwarded, 8);
    assert.deepEqual(pa.address, A);
  });

  test('replays and tampered frames are dropped and counted', () => {
    const s = bound();
    const f = s.alice.encodeData(Buffer.from('once'));
    assert.ok(s.fwd.handleDatagram(f, A));
    assert.equal(s.fwd.handleDatagram(f, A), null);
    assert.equal(s.fwd.handleDatagram(Buffer.from(f), EVIL), null);
    assert.equal(s.fwd.counters().drops.replay, 2);

    const g = s.alice.encodeData(Buffer.from('tamper'));
    g[12] = (g[12] as number) ^ 1;
    assert.equal(s.fwd.handleDatagram(g, A), null);
    assert.equal(s.fwd.counters().drops.badMac, 1);
    // The tampered frame did not burn its counter: the genuine one still passes.
    g[12] = (g[12] as number) ^ 1;
    assert.ok(s.fwd.handleDatagram(g, A));
  });

  test('without the key nothing passes, whatever the channel id', () => {
    const s = bound();
    const wrongKey = Buffer.alloc(32, 9);
    const forged = encodeRelayFrame(
      RelayFrameType.ClientData,
      s.ga.channelId,
      1000,
      Buffer.from('x'),
      wrongKey,
    );
    assert.equal(s.fwd.handleDatagram(forged, EVIL), null);
    const unknown = encodeRelayFrame(
      RelayFrameType.ClientData,
      (s.ga.channelId ^ 1) >>> 0,
      0,
      Buffer.from('x'),
      wrongKey,
    );
    assert.equal(s.fwd.handleDatagram(unknown, EVIL), null);
    // A relay->client type sent to the relay is malformed.
    const reflected = encodeRelayFrame(
      RelayFrameType.RelayData,
      s.ga.channelId,
      2000,
      Buffer.from('x'),
      s.ga.key,
    );
    assert.equal(s.fwd.handleDatagram(reflected, EVIL), null);
    const d = s.fwd.counters().drops;
    assert.equal(d.badMac, 1);
    assert.equal(d.unknownChannel, 1);
    assert.equal(d.malformed, 1);
    assert.deepEqual(s.fwd.callStats('call-1')?.parties[0]?.address, A);
  });

  test('the address follows the newest authentic frame only', () => {
    const s = bound();
    const old = s.alice.encodeData(Buffer.from('old'));
    const newer = s.alice.encodeData(Buffer.from('newer'));
    const A2: Endpoint = { address: '10.0.0.1', port: 4001 };
    // NAT rebinding: the newest frame arrives from a new port, and Bob's frames follow it.
    assert.ok(s.fwd.handleDatagram(newer, A2));
    let back = s.fwd.handleDatagram(s.bob.encodeData(Buffer.from('b')), B);
    assert.equal(back?.port, A2.port);
    // A late (still fresh) frame from the old mapping is forwarded but does not move the address.
    assert.ok(s.fwd.handleDatagram(old, A));
    back = s.fwd.handleDatagram(s.bob.encodeData(Buffer.from('b')), B);
    assert.equal(back?.port, A2.port);
    // A replayed frame from an attacker's address is dropped and moves nothing.
    assert.equal(s.fwd.handleDatagram(Buffer.from(newer), EVIL), null);
    assert.deepEqual(s.fwd.callStats('call-1')?.parties[0]?.address, A2);
  });

  test('per-identity rate cap in packets, refilled by the clock', () => {
    const s = setup({ ratePacketsPerSec: 100, rateBytesPerSec: 1e9, burstMs: 100 });
    s.fwd.handleDatagram(s.bob.encodeBind(), B);
    let passed = 0;
    for (let i = 0; i < 50; i++)
      if (s.fwd.handleDatagram(s.alice.encodeData(Buffer.alloc(10)), A)) passed++;
    assert.equal(passed, 10); // the bucket holds 100 ms at 100 packets/s
    assert.equal(s.fwd.counters().drops.rateLimited, 40);
    s.advance(50);
    passed = 0;
    for (let i = 0; i < 50; i++)
      if (s.fwd.handleDatagram(s.alice.encodeData(Buffer.alloc(10)), A)) passed++;
    assert.equal(passed, 5);
  });

  test('per-identity rate cap in bytes, shared across the identity allocations', () => {
    let t = 0;
    const fwd = new MediaForwarder({
      now: () => t,
      rateBytesPerSec: 10_000,
      ratePacketsPerSec: 1e6,
      burstMs: 1000,
    });
    const a1 = new RelayMediaChannel(
      fwd.grant('c1', 'alice').channelId,
      fwd.grant('c1', 'alice').key,
    );
    const a2g = fwd.grant('c2', 'alice');
    const a2 = new RelayMediaChannel(a2g.channelId, a2g.key);
    const b1g = fwd.grant('c1', 'bob');
    const b2g = fwd.grant('c2', 'carol');
    fwd.handleDatagram(new RelayMediaChannel(b1g.channelId, b1g.key).encodeBind(), B);
    fwd.handleDatagram(new RelayMediaChannel(b2g.channelId, b2g.key).encodeBind(), EVIL);
    let bytes = 0;
    for (let i = 0; i < 40; i++) {
      const ch = i % 2 === 0 ? a1 : a2;
      const f = ch.encodeData(Buffer.alloc(483)); // 500 bytes on the wire
      if (fwd.handleDatagram(f, A)) bytes += f.length;
    }
    assert.equal(bytes, 10_000); // one bucket of 1 s at 10 kB/s for both of Alice's calls
    t += 100; // refills 1000 bytes: two more frames
    assert.ok(fwd.handleDatagram(a1.encodeData(Buffer.alloc(483)), A));
    assert.ok(fwd.handleDatagram(a2.encodeData(Buffer.alloc(483)), A));
    assert.equal(fwd.handleDatagram(a1.encodeData(Buffer.alloc(483)), A), null);
  });

  test('revoke and idle sweep remove allocations', () => {
    const s = bound();
    assert.equal(s.fwd.revoke('call-1'), true);
    assert.equal(s.fwd.revoke('call-1'), false);
    assert.equal(s.fwd.handleDatagram(s.alice.encodeData(Buffer.from('x')), A), null);
    assert.equal(s.fwd.counters().drops.unknownChannel, 1);
    assert.equal(s.fwd.counters().allocations, 0);

    const t = setup();
    t.fwd.grant('call-2', 'fp-carol');
    t.advance(10_000);
    t.fwd.handleDatagram(t.alice.encodeBind(), A);
    t.advance(25_000);
    assert.deepEqual(t.fwd.sweepIdle(30_000), ['call-2']);
    assert.ok(t.fwd.callStats('call-1'));
  });

  test('random datagrams never throw and every one is counted as a drop', () => {
    const s = bound();
    const ch = s.ga.channelId;
    const before = sumDrops(s.fwd);
    let n = 0;
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 1300 }),
        fc.boolean(),
        fc.integer({ min: 0x18, max: 0x1b }),
        (bytes, aimed, type) => {
          const buf = Buffer.from(bytes);
          // Half of them aimed at a live channel, so the MAC and replay paths are exercised too.
          if (aimed && buf.length >= 5) {
            buf[0] = type;
            buf.writeUInt32BE(ch, 1);
          }
          n++;
          assert.equal(s.fwd.handleDatagram(buf, EVIL), null);
        },
      ),
      { numRuns: 3000 },
    );
    assert.equal(sumDrops(s.fwd) - before, n);
    assert.deepEqual(s.fwd.callStats('call-1')?.parties[0]?.address, A);
  });

  test('a trunk carries a call between two relays: client frames cross both, payload untouched', () => {
    let t = 1000;
    const r1 = new MediaForwarder({ now: () => t });
    const r3 = new MediaForwarder({ now: () => t });
    const R1: Endpoint = { address: '10.1.0.1', port: 3478 };
    const R3: Endpoint = { address: '10.3.0.1', port: 3478 };
    // Caller on r1, callee on r3: each relay grants its own party and opens a trunk.
    const ga = r1.grant('x', 'fp-alice');
    const gb = r3.grant('x', 'fp-bob');
    const t3 = r3.openTrunk('x', 'fp-alice');
    const t1 = r1.openTrunk('x', 'fp-bob');
    assert.throws(() => r1.grant('x', 'fp-carol'), MediaGrantError);
    const alice = new RelayMediaChannel(ga.channelId, ga.key);
    const bob = new RelayMediaChannel(gb.channelId, gb.key);
    assert.ok(r1.handleDatagram(alice.encodeBind(), A));
    assert.ok(r3.handleDatagram(bob.encodeBind(), B));
    // Until the peer relay's half is known, nothing leaves towards it.
    assert.equal(r1.handleDatagram(alice.encodeData(Buffer.from('early')), A), null);
    assert.equal(r1.counters().drops.peerAddressUnknown, 1);
    assert.ok(r1.connectTrunk('x', { ...t3, address: R3.address, port: R3.port }));
    assert.ok(r3.connectTrunk('x', { ...t1, address: R1.address, port: R1.port }));
    assert.equal(r1.connectTrunk('nope', { ...t3, ...R3 }), false);

    const hop1 = r1.handleDatagram(alice.encodeData(Buffer.from('hello bob')), A);
    assert.ok(hop1);
    assert.deepEqual({ address: hop1.address, port: hop1.port }, R3);
    assert.equal(
      hop1.data[0],
      RelayFrameType.ClientData,
      'relay to relay speaks the client format',
    );
    const hop2 = r3.handleDatagram(hop1.data, R1);
    assert.ok(hop2);
    assert.deepEqual({ address: hop2.address, port: hop2.port }, B);
    const got = bob.receive(hop2.data);
    assert.equal(got.kind, 'data');
    assert.equal(got.kind === 'data' && got.payload.toString(), 'hello bob');

    // And back.
    t += 20;
    const back1 = r3.handleDatagram(bob.encodeData(Buffer.from('hi alice')), B);
    assert.ok(back1);
    const back2 = r1.handleDatagram(back1.data, R3);
    assert.ok(back2);
    const heard = alice.receive(back2.data);
    assert.equal(heard.kind === 'data' && heard.payload.toString(), 'hi alice');

    // The trunk is judged like any client: a replay, a forged frame and a bind are dropped.
    assert.equal(r3.handleDatagram(hop1.data, R1), null);
    assert.equal(r3.counters().drops.replay, 1);
    const forged = new RelayMediaChannel(t3.channelId, Buffer.alloc(32, 7));
    for (let i = 0; i < 10; i++) forged.encodeBind();
    assert.equal(r3.handleDatagram(forged.encodeData(Buffer.from('x')), EVIL), null);
    assert.equal(r3.counters().drops.badMac, 1);
    const trunkAsClient = new RelayMediaChannel(t3.channelId, t3.key);
    for (let i = 0; i < 10; i++) trunkAsClient.encodeBind();
    assert.equal(r3.handleDatagram(trunkAsClient.encodeBind(), R1), null);
    assert.equal(r3.counters().drops.malformed, 1);

    const c1 = r1.counters();
    assert.deepEqual([c1.trunks, c1.trunkOut, c1.trunkIn], [1, 1, 1]);
    assert.ok(r1.revoke('x'));
    assert.equal(r1.counters().trunks, 0);
  });
});
