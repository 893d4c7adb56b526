// Media frame encryption: integrity of header and payload, replay and reorder handling, and the
// forward-only rekeying across epochs, all on a fake clock.
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { KeyExchange, type Signer } from '../../src-main/engine/media/key-exchange.ts';
import {
  FRAME_OVERHEAD,
  FrameOpener,
  FrameSealer,
  createMediaCiphers,
  frameNonce,
  type Direction,
} from '../../src-main/engine/media/frame-cipher.ts';

ed.hashes.sha512 = sha512;

class Clock {
  t = 1_000_000;
  now = (): number => this.t;
}

function header(seq: number): Uint8Array {
  const h = new Uint8Array(8);
  h[0] = 0x80;
  h[1] = 111;
  new DataView(h.buffer).setUint32(2, seq);
  return h;
}

function payload(seq: number, len = 100): Uint8Array {
  return Uint8Array.from({ length: len }, (_, i) => (seq * 31 + i) & 0xff);
}

const KEY = Uint8Array.from({ length: 32 }, (_, i) => i + 7);

function pipe(
  opts: { rekeyIntervalMs?: number; rekeyAfterFrames?: number; graceMs?: number } = {},
) {
  const clock = new Clock();
  const dir: Direction = 'caller-to-callee';
  const sealer = new FrameSealer({ key: KEY, direction: dir, now: clock.now, ...opts });
  const opener = new FrameOpener({ key: KEY, direction: dir, now: clock.now, ...opts });
  return { clock, sealer, opener };
}

interface Frame {
  seq: number;
  header: Uint8Array;
  sealed: Uint8Array;
  epoch: number;
}

function seal(sealer: FrameSealer, seq: number): Frame {
  const h = header(seq);
  const r = sealer.seal(seq, h, payload(seq));
  assert.ok(r.ok, `seal ${seq}`);
  return { seq, header: h, sealed: r.sealed, epoch: r.epoch };
}

function signer(b: number): Signer {
  const seed = new Uint8Array(32).fill(b);
  return { publicKey: ed.getPublicKey(seed), sign: (m) => ed.sign(m, seed) };
}

describe('frame cipher basics', () => {
  test('keys from a real exchange carry media both ways, and not across directions', () => {
    const a = signer(1);
    const b = signer(2);
    const xa = new KeyExchange({
      signer: a,
      role: 'caller',
      callId: 'c1',
      peerFingerprint: sha256(b.publicKey),
    });
    const xb = new KeyExchange({
      signer: b,
      role: 'callee',
      callId: 'c1',
      peerFingerprint: sha256(a.publicKey),
    });
    const ra = xa.accept(xb.localShareWire());
    const rb = xb.accept(xa.localShareWire());
    assert.ok(ra.kind === 'ok' && rb.kind === 'ok');
    const clock = new Clock();
    const A = createMediaCiphers(ra.keys, { now: clock.now });
    const B = createMediaCiphers(rb.keys, { now: clock.now });
    for (let seq = 0; seq < 5; seq++) {
      const fa = seal(A.sealer, seq);
      const ob = B.opener.open(seq, fa.header, fa.sealed);
      assert.ok(ob.ok);
      assert.deepEqual(ob.payload, payload(seq));
      const fb = seal(B.sealer, seq);
      const oa = A.opener.open(seq, fb.header, fb.sealed);
      assert.ok(oa.ok);
      assert.deepEqual(oa.payload, payload(seq));
    }
    // A's own frame looped back to A (reflection by a relay) does not open.
    const own = seal(A.sealer, 100);
    assert.deepEqual(A.opener.open(100, own.header, own.sealed), {
      ok: false,
      reason: 'auth-failed',
    });
  });

  test('frame layout: epoch marker, then ciphertext and tag', () => {
    const { sealer } = pipe();
    const f = seal(sealer, 9);
    assert.equal(f.sealed.length, 100 + FRAME_OVERHEAD);
    assert.equal(f.sealed[0], 0);
    assert.notDeepEqual(f.sealed.subarray(1, 101), payload(9));
  });

  test('tampering any byte of header, marker, ciphertext or tag is detected and changes nothing', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), (inHeader, at, xor) => {
        const { sealer, opener } = pipe();
        const f = seal(sealer, 42);
        const h = Uint8Array.from(f.header);
        const s = Uint8Array.from(f.sealed);
        const target = inHeader ? h : s;
        const i = at % target.length;
        target[i] = (target[i] ?? 0) ^ xor;
        const r = opener.open(42, h, s);
        assert.equal(r.ok, false);
        assert.equal(opener.stats.authFailed + opener.stats.unknownEpoch, 1);
        // The genuine frame still opens: the forgery neither advanced the window nor burnt the seq.
        assert.ok(opener.open(42, f.header, f.sealed).ok);
      }),
      { numRuns: 300 },
    );
  });

  test('a frame opened under another sequence number fails', () => {
    const { sealer, opener } = pipe();
    const f = seal(sealer, 5);
    const r = opener.open(6, f.header, f.sealed);
    assert.deepEqual(r, { ok: false, reason: 'auth-failed' });
  });

  test('junk never throws and never opens', () => {
    const { opener } = pipe();
    fc.assert(
      fc.property(
        fc.oneof(fc.nat({ max: 0xffffffff }), fc.integer(), fc.double()),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 200 }),
        (seq, h, s) => {
          assert.equal(opener.open(seq, h, s).ok, false);
        },
      ),
      { numRuns: 300 },
    );
    assert.equal(opener.stats.opened, 0);
  });
});

describe('replay and reordering', () => {
  test('a replayed frame is rejected', () => {
    const { sealer, opener } = pipe();
    const f = seal(sealer, 1);
    assert.ok(opener.open(1, f.header, f.sealed).ok);
    assert.deepEqual(opener.open(1, f.header, f.sealed), { ok: false, reason: 'duplicate' });
    assert.equal(opener.stats.duplicate, 1);
  });

  test('a forged frame far ahead does not move the window', () => {
    const { sealer, opener } = pipe();
    const f = seal(sealer, 1);
    const forged = new Uint8Array(120);
    assert.equal(opener.open(1_000_000, header(1_000_000), forged).ok, false);
    assert.ok(opener.open(1, f.header, f.sealed).ok);
  });

  test('frames older than the window are rejected', () => {
    const { sealer, opener } = pipe();
    const frames = Array.from({ length: 2100 }, (_, i) => seal(sealer, i));
    const last = frames[2099];
    const first = frames[0];
    assert.ok(last && first);
    assert.ok(opener.open(last.seq, last.header, last.sealed).ok);
    assert.deepEqual(opener.open(first.seq, first.header, first.sealed), {
      ok: false,
      reason: 'too-old',
    });
  });

  test('any delivery order within the window opens each frame exactly once', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 60 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.array(fc.nat({ max: n - 1 }), { minLength: 1, maxLength: 3 * n }),
            ),
          ),
        ([n, deliveries]) => {
          const { sealer, opener } = pipe();
          const frames = Array.from({ length: n }, (_, i) => seal(sealer, 1000 + i));
          const opened = new Map<number, number>();
          for (const d of deliveries) {
            const f = frames[d];
            assert.ok(f);
            const r = opener.open(f.seq, f.header, f.sealed);
            if (r.ok) {
              assert.deepEqual(r.payload, payload(f.seq));
              opened.set(f.seq, (opened.get(f.seq) ?? 0) + 1);
            } else {
              assert.equal(r.reason, 'duplicate');
            }
          }
          assert.equal(opened.size, new Set(deliveries).size);
          for (const count of opened.values()) assert.equal(count, 1);
        },
      ),
    );
  });
});

describe('rekeying', () => {
  test('the sealer rekeys on time; reordering around each switch still opens every frame once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 80, maxLength: 80 }),
        fc.array(fc.nat({ max: 79 }), { maxLength: 20 }),
        (jitter, dupes) => {
          // 20 ms per frame, a new epoch every 200 ms (10 frames); each frame is delayed by up to
          // 4 frame times, so frames from both sides of a switch interleave.
          const { clock, sealer, opener } = pipe({ rekeyIntervalMs: 200 });
          const frames: Frame[] = [];
          for (let i = 0; i < 80; i++) {
            frames.push(seal(sealer, i));
            clock.t += 20;
          }
          assert.ok(sealer.epoch >= 7, `epoch ${sealer.epoch}`);
          const order = frames
            .map((f, i) => ({ f, at: i + (jitter[i] ?? 0) }))
            .sort((x, y) => x.at - y.at || x.f.seq - y.f.seq)
            .map((x) => x.f);
          for (const d of dupes) {
            const f = frames[d];
            if (f) order.splice(Math.min(order.length, d + 3), 0, f);
          }
          let ok = 0;
          for (const f of order) {
            const r = opener.open(f.seq, f.header, f.sealed);
            if (r.ok) {
              ok++;
              assert.equal(r.epoch, f.epoch);
              assert.deepEqual(r.payload, payload(f.seq));
            } else {
              assert.equal(r.reason, 'duplicate', `seq ${f.seq} epoch ${f.epoch}`);
            }
          }
          assert.equal(ok, 80);
          assert.equal(opener.epoch, sealer.epoch);
        },
      ),
      { numRuns: 60 },
    );
  });

  test('the previous epoch is kept for the grace period only, then its key is gone', () => {
    const { clock, sealer, opener } = pipe({ graceMs: 1000 });
    const late = seal(sealer, 1);
    const late2 = seal(sealer, 2);
    sealer.rekey();
    const fresh = seal(sealer, 3);
    assert.ok(opener.open(fresh.seq, fresh.header, fresh.sealed).ok);
    assert.deepEqual(opener.heldEpochs(), [0, 1, 2]);
    clock.t += 999;
    assert.ok(opener.open(late.seq, late.header, late.sealed).ok, 'within grace');
    clock.t += 1;
    assert.deepEqual(opener.heldEpochs(), [1, 2]);
    assert.deepEqual(opener.open(late2.seq, late2.header, late2.sealed), {
      ok: false,
      reason: 'unknown-epoch',
    });
  });

  test('the opener accepts only current, next and (in grace) previous epochs', () => {
    const { sealer, opener } = pipe();
    const e0 = seal(sealer, 1);
    sealer.rekey();
    sealer.rekey();
    const e2 = seal(sealer, 2);
    assert.deepEqual(opener.open(e2.seq, e2.header, e2.sealed), {
      ok: false,
      reason: 'unknown-epoch',
    });
    assert.ok(opener.open(e0.seq, e0.header, e0.sealed).ok);
    assert.equal(opener.epoch, 0);
  });

  test('rekeying after N frames, through more than 256 epochs (the marker wraps)', () => {
    const { sealer, opener } = pipe({ rekeyAfterFrames: 2 });
    for (let seq = 0; seq < 700; seq++) {
      const f = seal(sealer, seq);
      const r = opener.open(f.seq, f.header, f.sealed);
      assert.ok(r.ok, `seq ${seq}`);
      assert.equal(r.epoch, Math.floor(seq / 2));
    }
    assert.equal(sealer.epoch, 349);
    assert.equal(opener.stats.epochSwitches, 349);
  });

  test('a sequence number wrap forces a new epoch; reuse inside an epoch is refused', () => {
    const { sealer, opener } = pipe();
    const a = seal(sealer, 0xfffffffe);
    const b = seal(sealer, 0xffffffff);
    assert.deepEqual(sealer.seal(0xffffffff, header(0xffffffff), payload(1)), {
      ok: false,
      reason: 'sequence-reused',
    });
    assert.deepEqual(sealer.seal(0xfffffff0, header(1), payload(1)), {
      ok: false,
      reason: 'sequence-reused',
    });
    const c = seal(sealer, 0);
    assert.equal(c.epoch, 1);
    for (const f of [a, c, b]) assert.ok(opener.open(f.seq, f.header, f.sealed).ok, `seq ${f.seq}`);
    assert.equal(sealer.stats.refused, 2);
  });

  test('no (key epoch, nonce) pair is ever used twice, whatever the clock and sequence do', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('seal' as const), step: fc.integer({ min: -3, max: 5 }) }),
      fc.record({ kind: fc.constant('wrap' as const) }),
      fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 200_000 }) }),
      fc.record({ kind: fc.constant('rekey' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const { clock, sealer } = pipe({ rekeyAfterFrames: 7 });
        const used = new Set<string>();
        let seq = 100;
        for (const o of ops) {
          if (o.kind === 'time') clock.t += o.ms;
          else if (o.kind === 'rekey') sealer.rekey();
          else {
            seq = o.kind === 'wrap' ? (seq + 0xfffffff0) % 0x100000000 : Math.max(0, seq + o.step);
            const r = sealer.seal(seq, header(seq), payload(seq, 4));
            if (r.ok) {
              const n = Buffer.from(frameNonce(r.epoch, sealer.direction, seq)).toString('hex');
              assert.ok(!used.has(n), `nonce reused: epoch ${r.epoch} seq ${seq}`);
              used.add(n);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test('nonces are distinct for distinct (epoch, direction, sequence)', () => {
    const dirArb = fc.constantFrom<Direction>('caller-to-callee', 'callee-to-caller');
    const arb = fc.tuple(fc.nat({ max: 0xffffffff }), dirArb, fc.nat({ max: 0xffffffff }));
    // y differs from x in any subset of the three components (often in just one).
    const pairArb = fc
      .tuple(arb, fc.boolean(), fc.boolean(), fc.boolean(), arb)
      .map(([x, e, d, q, o]) => {
        const y: typeof x = [e ? o[0] : x[0], d ? o[1] : x[1], q ? o[2] : x[2]];
        return [x, y] as const;
      });
    fc.assert(
      fc.property(pairArb, ([x, y]) => {
        fc.pre(x[0] !== y[0] || x[1] !== y[1] || x[2] !== y[2]);
        assert.notDeepEqual(frameNonce(...x), frameNonce(...y));
      }),
      { numRuns: 500 },
    );
    assert.notDeepEqual(frameNonce(3, 'caller-to-callee', 9), frameNonce(3, 'callee-to-caller', 9));
  });

  test('closed ciphers refuse to work', () => {
    const { sealer, opener } = pipe();
    const f = seal(sealer, 1);
    sealer.close();
    opener.close();
    assert.deepEqual(sealer.seal(2, header(2), payload(2)), { ok: false, reason: 'closed' });
    assert.deepEqual(opener.open(f.seq, f.header, f.sealed), { ok: false, reason: 'closed' });
  });
});
