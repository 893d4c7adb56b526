// Coordinated path switch: the propose/ack exchange, refusal, crossed proposals, stale acks,
// retries and give-up, fallback; and a simulation of two ends over a lossy, reordering signal
// channel and a direct link that comes and goes, checked frame by frame.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PathSwitcher } from '../../src-main/engine/call/path-switch.ts';
import type { PathSwitchOutput, PathSwitchSignal } from '../../src-main/engine/call/path-switch.ts';
import type { MediaPath } from '../../src-shared/call-signals.ts';

const sent = (out: PathSwitchOutput[]): PathSwitchSignal[] =>
  out.flatMap((o) => (o.type === 'send' ? [o.signal] : []));
const only = (out: PathSwitchOutput[]): PathSwitchSignal => {
  const s = sent(out);
  assert.equal(s.length, 1, JSON.stringify(out));
  return s[0] as PathSwitchSignal;
};
const switches = (out: PathSwitchOutput[]): PathSwitchOutput[] =>
  out.filter((o) => o.type === 'switch');

function pair(): { a: PathSwitcher; b: PathSwitcher } {
  const a = new PathSwitcher({ localIsTieWinner: true });
  const b = new PathSwitcher({ localIsTieWinner: false });
  a.directReady();
  b.directReady();
  return { a, b };
}

describe('PathSwitcher exchange', () => {
  test('propose, ack, and each side switches its sending at its own atSeq', () => {
    const { a, b } = pair();
    assert.equal(a.sendPathFor(0), 'relay');
    const prop = only(a.propose('direct', 'direct up', 100, 0));
    assert.deepEqual(prop, {
      kind: 'path-switch',
      phase: 'propose',
      path: 'direct',
      atSeq: 105,
      epoch: 3,
      reason: 'direct up',
    });
    assert.equal(a.sendPathFor(110), 'relay', 'nothing changes before the ack');

    const bOut = b.onSignal(prop, 500, 40);
    const ack = only(bOut);
    assert.deepEqual(ack, { ...prop, phase: 'ack', atSeq: 505 });
    assert.deepEqual(switches(bOut), [
      { type: 'switch', path: 'direct', atSeq: 505, epoch: 3, reason: 'direct up' },
    ]);
    assert.equal(b.sendPathFor(504), 'relay');
    assert.equal(b.sendPathFor(505), 'direct');

    // The ack arrives while A is at 103: A switches at its proposed 105.
    assert.deepEqual(switches(a.onSignal(ack, 103, 80)), [
      { type: 'switch', path: 'direct', atSeq: 105, epoch: 3, reason: 'direct up' },
    ]);
    assert.equal(a.sendPathFor(104), 'relay');
    assert.equal(a.sendPathFor(105), 'direct');
    assert.equal(a.agreedPath, 'direct');
    assert.equal(a.epoch, 3);
    assert.equal(b.epoch, 3);
    assert.equal(a.pendingProposal, null);
    // A duplicate ack changes nothing.
    assert.deepEqual(a.onSignal(ack, 120, 90), []);
    assert.equal(a.stats.ignored, 1);
  });

  test('a late ack switches at once', () => {
    const { a, b } = pair();
    const ack = only(b.onSignal(only(a.propose('direct', 'x', 100, 0)), 0, 0));
    assert.deepEqual(switches(a.onSignal(ack, 140, 800)), [
      { type: 'switch', path: 'direct', atSeq: 140, epoch: 3, reason: 'x' },
    ]);
  });

  test('a resent proposal gets the same ack again; nothing to do gives no proposal', () => {
    const { a, b } = pair();
    assert.deepEqual(a.propose('relay', 'already', 0, 0), []);
    const prop = only(a.propose('direct', 'x', 10, 0));
    assert.deepEqual(a.propose('direct', 'again', 11, 1), [], 'already pending');
    const ack1 = only(b.onSignal(prop, 50, 10));
    const out2 = b.onSignal(prop, 60, 500);
    assert.deepEqual(only(out2), ack1);
    assert.deepEqual(switches(out2), []);
  });

  test('a side without a direct path refuses with a higher relay proposal', () => {
    const a = new PathSwitcher({ localIsTieWinner: false });
    const b = new PathSwitcher({ localIsTieWinner: true });
    assert.deepEqual(a.propose('direct', 'x', 0, 0), [], 'cannot propose what is not up');
    a.directReady();
    const prop = only(a.propose('direct', 'x', 0, 0));
    assert.equal(prop.epoch, 2);
    const refusal = only(b.onSignal(prop, 0, 10));
    assert.equal(refusal.phase, 'propose');
    assert.equal(refusal.path, 'relay');
    assert.ok(refusal.epoch > prop.epoch);
    // A loses the race, acks relay, stays on relay.
    const ack = only(a.onSignal(refusal, 3, 20));
    assert.equal(ack.phase, 'ack');
    assert.deepEqual(b.onSignal(ack, 2, 30), []);
    assert.equal(a.pendingProposal, null);
    assert.equal(b.pendingProposal, null);
    assert.equal(a.sendPathFor(100), 'relay');
    assert.equal(b.sendPathFor(100), 'relay');
    assert.equal(b.receivingOn('direct'), false);
    assert.equal(b.receivingOn('relay'), true);
  });

  test('crossed proposals: the higher epoch wins on both ends', () => {
    const { a, b } = pair();
    const pa = only(a.propose('direct', 'a', 0, 0));
    const pb = only(b.propose('direct', 'b', 0, 0));
    assert.ok(pa.epoch > pb.epoch, 'same counter: the tie winner has the higher epoch');
    assert.deepEqual(a.onSignal(pb, 1, 10), [], 'the winner waits for its ack');
    const ack = only(b.onSignal(pa, 1, 10));
    assert.equal(ack.epoch, pa.epoch);
    assert.equal(b.pendingProposal, null);
    a.onSignal(ack, 2, 20);
    assert.equal(a.agreedPath, 'direct');
    assert.equal(b.agreedPath, 'direct');
    // Later B has seen more epochs, so its next proposal beats A's crossing one.
    const pa2 = only(a.propose('relay', 'a2', 50, 1000));
    const pb2 = only(b.propose('relay', 'b2', 50, 1000));
    assert.ok(pb2.epoch < pa2.epoch || pb2.epoch > pa2.epoch);
    const winner = pa2.epoch > pb2.epoch ? 'a' : 'b';
    const outA = a.onSignal(pb2, 51, 1010);
    const outB = b.onSignal(pa2, 51, 1010);
    if (winner === 'a') {
      assert.deepEqual(outA, []);
      a.onSignal(only(outB), 52, 1020);
    } else {
      assert.deepEqual(outB, []);
      b.onSignal(only(outA), 52, 1020);
    }
    assert.equal(a.agreedPath, 'relay');
    assert.equal(b.agreedPath, 'relay');
    assert.equal(a.pendingProposal, null);
    assert.equal(b.pendingProposal, null);
  });

  test('stale acks and proposals, and epochs of the wrong side, are ignored', () => {
    const { a, b } = pair();
    const p1 = only(a.propose('direct', 'one', 0, 0));
    const ack1 = only(b.onSignal(p1, 0, 0));
    const p2 = only(a.propose('relay', 'two', 5, 10)); // supersedes before ack1 arrives
    assert.deepEqual(a.onSignal(ack1, 6, 20), [], 'ack for the superseded epoch');
    assert.equal(a.sendPathFor(100), 'relay');
    const ack2 = only(b.onSignal(p2, 6, 30));
    a.onSignal(ack2, 7, 40);
    assert.equal(a.agreedPath, 'relay');
    assert.equal(b.agreedPath, 'relay');
    // The old proposal arriving late does not move B back.
    assert.deepEqual(b.onSignal(p1, 8, 50), []);
    assert.equal(b.agreedPath, 'relay');
    // A "proposal" carrying B's own tie-break bit is not from A: dropped.
    assert.deepEqual(b.onSignal({ ...p2, epoch: 100 }, 8, 60), []);
    assert.equal(b.stats.ignored, 2);
    // An old ack for the same path as the current proposal is still not an ack of it.
    const p3 = only(a.propose('direct', 'three', 10, 70));
    assert.ok(p3.epoch > p1.epoch);
    assert.deepEqual(a.onSignal(ack1, 11, 80), []);
    assert.equal(a.pendingProposal?.epoch, p3.epoch);
    assert.equal(a.sendPathFor(100), 'relay');
  });

  test('no ack: resend every 500 ms, give up after 3, then pull the peer back', () => {
    const { a } = pair();
    const prop = only(a.propose('direct', 'x', 0, 0));
    const resends: number[] = [];
    let gaveUp: PathSwitchOutput[] = [];
    for (let t = 20; t <= 2500; t += 20) {
      const out = a.tick(t / 20, t);
      if (out.some((o) => o.type === 'gave-up')) {
        gaveUp = out;
        break;
      }
      for (const s of sent(out)) {
        assert.deepEqual(s, prop);
        resends.push(t);
      }
    }
    assert.deepEqual(resends, [500, 1000, 1500]);
    assert.deepEqual(gaveUp[0], { type: 'gave-up', path: 'direct', epoch: 3, reason: 'x' });
    const abort = sent(gaveUp)[0];
    assert.equal(abort?.path, 'relay');
    assert.equal(abort?.phase, 'propose');
    assert.ok((abort?.epoch ?? 0) > prop.epoch);
    assert.equal(a.sendPathFor(1000), 'relay');
    assert.equal(a.stats.gaveUp, 1);
    // The abort itself keeps trying, ever more slowly.
    const times: number[] = [];
    for (let t = 2020; t <= 20_000; t += 20) if (sent(a.tick(t / 20, t)).length) times.push(t);
    assert.deepEqual(times.slice(0, 5), [2500, 3500, 5500, 9500, 13500]);
  });

  test('fallback: relay at once, the peer told and switching at once', () => {
    // Put both firmly on direct.
    const { a: x, b: y } = pair();
    x.onSignal(only(y.onSignal(only(x.propose('direct', 'up', 0, 0)), 0, 0)), 0, 0);
    assert.equal(x.sendPathFor(200), 'direct');
    assert.equal(y.sendPathFor(200), 'direct');

    const out = x.fallback('pings lost', 200, 4000);
    assert.deepEqual(switches(out), [
      { type: 'switch', path: 'relay', atSeq: 200, epoch: 3, reason: 'fallback' },
    ]);
    assert.equal(x.sendPathFor(200), 'relay', 'no waiting for an ack');
    assert.equal(x.receivingOn('direct'), false);
    const tell = only(out);
    assert.equal(tell.reason, 'fallback: pings lost');
    const yOut = y.onSignal(tell, 230, 4050);
    assert.equal(only(yOut).atSeq, 230);
    assert.equal(y.sendPathFor(230), 'relay', 'the peer switches at once too');
    x.onSignal(only(yOut), 202, 4100);
    assert.equal(x.pendingProposal, null);
    // X cannot propose direct now, and refuses the peer's proposal of it.
    assert.deepEqual(x.propose('direct', 'again', 210, 4300), []);
    const again = only(y.propose('direct', 'again', 250, 4300));
    const refusal = only(x.onSignal(again, 211, 4350));
    assert.equal(refusal.phase, 'propose');
    assert.equal(refusal.path, 'relay');
    y.onSignal(refusal, 252, 4400);
    assert.equal(y.agreedPath, 'relay');
    // Y's own detection comes late: on the relay already, it has nothing to say.
    assert.deepEqual(y.fallback('late detection', 260, 4500), []);
    assert.equal(y.receivingOn('direct'), false);
  });
});

// ---------------------------------------------------------------------------------------------
// Two ends, a signal channel that delays (reorders) and loses, and a direct link that toggles.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Scenario {
  seed: number;
  /** Gaps between link toggles (first toggle brings it up). */
  toggleGaps: number[];
  /** Extra proposals by the hosts: [time, side, path]. */
  proposals: [number, 0 | 1, MediaPath][];
  lossUntil: number;
  lossProb: number;
}

interface Msg {
  at: number;
  order: number;
  to: 0 | 1;
  sig: PathSwitchSignal;
}

const STEP = 10;
const FRAME_MS = 20;
const SETTLE_MS = 15_000;

function simulate(sc: Scenario, expectFinal?: MediaPath): void {
  const rand = rng(sc.seed);
  // Exactly one tie winner, either side.
  const winnerFirst = rand() < 0.5;
  const ends = [
    new PathSwitcher({ localIsTieWinner: winnerFirst }),
    new PathSwitcher({ localIsTieWinner: !winnerFirst }),
  ] as const;
  const seq: [number, number] = [0, 0];
  let queue: Msg[] = [];
  let order = 0;

  // Link toggles and each side's detection of each.
  const toggles: number[] = [];
  let t0 = 0;
  for (const g of sc.toggleGaps) toggles.push((t0 += g));
  type HostEv = { at: number; side: 0 | 1; kind: 'up' | 'down' | 'propose'; path?: MediaPath };
  const hostEvs: HostEv[] = [];
  toggles.forEach((t, i) => {
    for (const side of [0, 1] as const) {
      hostEvs.push({ at: t + Math.floor(rand() * 300), side, kind: i % 2 === 0 ? 'up' : 'down' });
    }
  });
  for (const [at, side, path] of sc.proposals) hostEvs.push({ at, side, kind: 'propose', path });
  hostEvs.sort((x, y) => x.at - y.at);
  const linkAlive = (t: number): boolean => toggles.filter((x) => x <= t).length % 2 === 1;
  const detectedDown: [boolean, boolean] = [false, false];

  const emit = (from: 0 | 1, out: PathSwitchOutput[], now: number): void => {
    for (const o of out) {
      if (o.type !== 'send') continue;
      if (now < sc.lossUntil && rand() < sc.lossProb) continue;
      queue.push({
        at: now + 5 + Math.floor(rand() * 250),
        order: order++,
        to: from === 0 ? 1 : 0,
        sig: o.signal,
      });
    }
  };

  const lastEvent = Math.max(hostEvs.at(-1)?.at ?? 0, sc.lossUntil);
  const end = lastEvent + SETTLE_MS;
  let ev = 0;
  for (let now = 0; now <= end; now += STEP) {
    const due = queue.filter((m) => m.at <= now).sort((x, y) => x.at - y.at || x.order - y.order);
    queue = queue.filter((m) => m.at > now);
    for (const m of due) emit(m.to, ends[m.to].onSignal(m.sig, seq[m.to], now), now);
    while (ev < hostEvs.length && (hostEvs[ev]?.at ?? Infinity) <= now) {
      const e = hostEvs[ev++] as HostEv;
      const end_ = ends[e.side];
      if (e.kind === 'up') {
        detectedDown[e.side] = false;
        end_.directReady();
        emit(e.side, end_.propose('direct', 'direct up', seq[e.side], now), now);
      } else if (e.kind === 'down') {
        detectedDown[e.side] = true;
        emit(e.side, end_.fallback('link down', seq[e.side], now), now);
      } else if (e.path !== undefined) {
        emit(e.side, end_.propose(e.path, 'host', seq[e.side], now), now);
      }
    }
    if (now % FRAME_MS !== 0) continue;
    for (const side of [0, 1] as const) {
      const me = ends[side];
      const peer = ends[side === 0 ? 1 : 0];
      const path = me.sendPathFor(seq[side]);
      if (path === 'direct') {
        if (linkAlive(now)) {
          assert.ok(
            peer.receivingOn('direct'),
            `t=${now}: side ${side} sends frame ${seq[side]} on direct, peer not receiving there`,
          );
        } else {
          assert.ok(!detectedDown[side], `t=${now}: side ${side} knows direct is dead yet uses it`);
        }
      }
      seq[side]++;
      emit(side, me.tick(seq[side], now), now);
    }
  }
  const [a, b] = ends;
  assert.equal(queue.length, 0, 'signals still flying at the end');
  assert.equal(a.pendingProposal, null, 'A still has a proposal out');
  assert.equal(b.pendingProposal, null, 'B still has a proposal out');
  assert.equal(a.agreedPath, b.agreedPath, 'both ends agree');
  assert.equal(a.sendPathFor(seq[0]), b.sendPathFor(seq[1]), 'both ends send on the same path');
  if (!linkAlive(end)) assert.equal(a.agreedPath, 'relay', 'a dead direct link ends on relay');
  if (expectFinal !== undefined) assert.equal(a.agreedPath, expectFinal);
}

const proposal = fc.tuple(
  fc.integer({ min: 0, max: 6000 }),
  fc.constantFrom<0 | 1>(0, 1),
  fc.constantFrom<MediaPath>('direct', 'relay'),
);
// Both hosts proposing within a signal's flight time of each other: crossed proposals.
const crossing = fc
  .tuple(
    fc.integer({ min: 0, max: 6000 }),
    fc.integer({ min: 0, max: 200 }),
    fc.constantFrom<MediaPath>('direct', 'relay'),
    fc.constantFrom<MediaPath>('direct', 'relay'),
  )
  .map(([t, dt, p0, p1]): [number, 0 | 1, MediaPath][] => [
    [t, 0, p0],
    [t + dt, 1, p1],
  ]);

const scenarios: fc.Arbitrary<Scenario> = fc.record({
  seed: fc.integer(),
  toggleGaps: fc.array(fc.integer({ min: 400, max: 3000 }), { minLength: 0, maxLength: 5 }),
  proposals: fc
    .tuple(fc.array(proposal, { maxLength: 6 }), fc.array(crossing, { maxLength: 3 }))
    .map(([single, pairs]) => [...single, ...pairs.flat()]),
  lossUntil: fc.integer({ min: 0, max: 6000 }),
  lossProb: fc.double({ min: 0, max: 0.9, noNaN: true }),
});

describe('PathSwitcher, two simulated ends', () => {
  test('a link that comes up and stays: both end on direct, whoever wins the tie', () => {
    for (let seed = 1; seed <= 5; seed++) {
      simulate({ seed, toggleGaps: [300], proposals: [], lossUntil: 0, lossProb: 0 }, 'direct');
    }
  });

  test('a lossy start: acks lost until the proposer gives up, yet both end on one path', () => {
    for (let seed = 0; seed < 60; seed++) {
      simulate({ seed, toggleGaps: [300], proposals: [], lossUntil: 6000, lossProb: 0.5 });
    }
  });

  test('property: agree, never send where the peer does not receive, end on one path', () => {
    fc.assert(
      fc.property(scenarios, (sc) => simulate(sc)),
      { numRuns: 150 },
    );
  });
});
