// The cluster directory on fake clocks: presence changes, eviction of an outranked registration,
// peers that time out or leave, snapshots that repair what was missed, and (fast-check) three
// relays with skewed clocks registering and unregistering one identity in any interleaving of
// their messages end with the same holder everywhere and at most one live registration.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import {
  ClusterDirectory,
  type DirectoryChange,
} from '../../src-main/relay/cluster/cluster-directory.ts';
import type { DirectoryUpdate } from '../../src-main/relay/cluster/cluster-protocol.ts';

const FP = Identity.generate().fingerprint;
const FP2 = Identity.generate().fingerprint;

function relay(name: string, clock = { mono: 0, wall: 1_000_000 }) {
  return new ClusterDirectory({
    relay: name,
    instance: `${name}-instance`,
    peerTimeoutMs: 3000,
    now: () => clock.mono,
    wallNow: () => clock.wall,
  });
}

const kinds = (cs: DirectoryChange[]) => cs.map((c) => c.kind);

describe('ClusterDirectory', () => {
  test('a registration elsewhere is online here; its withdrawal takes it offline', () => {
    const r1 = relay('r1');
    const r3 = relay('r3');
    const { update, changes } = r1.registerLocal(FP);
    assert.deepEqual(kinds(changes), ['online']);
    assert.deepEqual(kinds(r3.apply(update).changes), ['peer-up', 'online']);
    assert.equal(r3.holder(FP)?.relay, 'r1');
    assert.equal(r3.holder(FP)?.local, false);
    const gone = r1.unregisterLocal(FP, update.epoch);
    assert.ok(gone.update);
    assert.deepEqual(kinds(r3.apply(gone.update).changes), ['offline']);
    assert.equal(r3.holder(FP), undefined);
  });

  test('a newer registration on another relay evicts ours, which is withdrawn', () => {
    const r1 = relay('r1');
    const r2 = relay('r2');
    const first = r1.registerLocal(FP).update;
    r2.apply(first);
    const second = r2.registerLocal(FP);
    assert.deepEqual(kinds(second.changes), ['moved']);
    assert.ok(second.update.epoch > first.epoch);
    const r = r1.apply(second.update);
    assert.deepEqual(kinds(r.changes), ['peer-up', 'evicted', 'moved']);
    assert.deepEqual(r.withdrawals, [{ ...first, online: false }]);
    assert.equal(r1.holder(FP)?.relay, 'r2');
    assert.equal(r1.localCount, 0);
    // Our stale "offline" for the evicted registration changes nothing on r2.
    assert.deepEqual(r2.apply({ ...first, online: false }).changes, []);
    assert.equal(r2.holder(FP)?.local, true);
  });

  test('an older registration arriving late changes nothing, and its relay yields when told', () => {
    const r1 = relay('r1');
    const r2 = relay('r2', { mono: 0, wall: 2_000_000 });
    const older = r1.registerLocal(FP).update;
    const newer = r2.registerLocal(FP).update;
    assert.deepEqual(kinds(r2.apply(older).changes), ['peer-up']);
    assert.equal(r2.holder(FP)?.local, true);
    assert.ok(kinds(r1.apply(newer).changes).includes('evicted'));
  });

  test('epochs outrank what was known even when this relay’s clock is behind', () => {
    const ahead = relay('r1', { mono: 0, wall: 5_000_000 });
    const behind = relay('r2', { mono: 0, wall: 1_000 });
    const a = ahead.registerLocal(FP).update;
    const gone = ahead.unregisterLocal(FP, a.epoch).update;
    assert.ok(gone);
    behind.apply(a);
    behind.apply(gone);
    const b = behind.registerLocal(FP).update;
    assert.ok(b.epoch > a.epoch, 'the tombstone of the withdrawn claim sets the floor');
  });

  test('a silent peer is dropped after the timeout with its registrations; one that leaves at once', () => {
    const clock = { mono: 0, wall: 1_000_000 };
    const r1 = relay('r1', clock);
    const r2 = relay('r2', clock);
    const r3 = relay('r3', clock);
    r1.apply(r2.registerLocal(FP).update);
    r1.apply(r3.registerLocal(FP2).update);
    clock.mono = 2000;
    r1.heartbeat({
      relay: 'r3',
      instance: 'r3-instance',
      seq: 1,
      media: '127.0.0.1:9',
      registered: 1,
    });
    clock.mono = 3500;
    const expired = r1.expire();
    assert.deepEqual(kinds(expired), ['peer-down', 'offline']);
    assert.equal(r1.holder(FP), undefined);
    assert.equal(r1.holder(FP2)?.relay, 'r3');
    assert.deepEqual(kinds(r1.left('r3', 'r3-instance')), ['peer-down', 'offline']);
    assert.equal(r1.size, 0);
    assert.equal(r1.relaysSeen, 2);
  });

  test('a full snapshot adds what was missed and drops what that relay no longer holds', () => {
    const r1 = relay('r1');
    const r2 = relay('r2');
    const a = r2.registerLocal(FP).update;
    r1.apply(a);
    r2.unregisterLocal(FP, a.epoch); // the withdrawal is lost
    r2.registerLocal(FP2);
    const parts = r2.snapshot();
    assert.equal(parts.length, 1);
    let changes: DirectoryChange[] = [];
    for (const p of parts) changes = changes.concat(r1.applySnapshot(p).changes);
    assert.deepEqual(kinds(changes).sort(), ['offline', 'online']);
    assert.equal(r1.holder(FP), undefined);
    assert.equal(r1.holder(FP2)?.relay, 'r2');
  });

  test('property: any interleaving converges on one holder and at most one live registration', () => {
    const names = ['r1', 'r2', 'r3'] as const;
    type Op = { kind: 'op'; relay: number; register: boolean } | { kind: 'deliver'; link: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant('op' as const),
        relay: fc.integer({ min: 0, max: 2 }),
        register: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('deliver' as const), link: fc.integer({ min: 0, max: 5 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(opArb, { maxLength: 60 }),
        fc.array(fc.integer({ min: -50_000, max: 50_000 }), { minLength: 3, maxLength: 3 }),
        (ops, skews) => {
          const clock = { mono: 0, wall: 10_000_000 };
          const dirs = names.map(
            (n, i) =>
              new ClusterDirectory({
                relay: n,
                instance: `${n}-instance`,
                peerTimeoutMs: 1e12,
                now: () => clock.mono,
                wallNow: () => clock.wall + (skews[i] ?? 0),
              }),
          );
          // The epoch of each relay's live session for FP (what the relay server holds).
          const sessions: (number | null)[] = [null, null, null];
          // FIFO per ordered pair of relays, as NATS keeps one publisher's order.
          const links = [
            [0, 1],
            [0, 2],
            [1, 0],
            [1, 2],
            [2, 0],
            [2, 1],
          ] as const;
          const queues: DirectoryUpdate[][] = links.map(() => []);
          const publish = (from: number, u: DirectoryUpdate) =>
            links.forEach(([a], i) => a === from && queues[i]?.push(u));
          const react = (
            at: number,
            r: { changes: DirectoryChange[]; withdrawals: DirectoryUpdate[] },
          ) => {
            for (const w of r.withdrawals) publish(at, w);
            if (r.changes.some((c) => c.kind === 'evicted')) sessions[at] = null;
          };
          const deliver = (i: number) => {
            const u = queues[i]?.shift();
            const link = links[i];
            if (u && link) react(link[1], (dirs[link[1]] as ClusterDirectory).apply(u));
          };
          for (const op of ops) {
            clock.wall += 7;
            if (op.kind === 'deliver') {
              deliver(op.link);
              continue;
            }
            const d = dirs[op.relay] as ClusterDirectory;
            const mine = sessions[op.relay];
            if (op.register) {
              const { update } = d.registerLocal(FP);
              sessions[op.relay] = update.epoch;
              publish(op.relay, update);
            } else if (mine != null) {
              const { update } = d.unregisterLocal(FP, mine);
              sessions[op.relay] = null;
              if (update) publish(op.relay, update);
            }
          }
          while (queues.some((q) => q.length > 0)) {
            queues.forEach((q, i) => q.length > 0 && deliver(i));
          }
          const holders = dirs.map((d) => {
            const h = d.holder(FP);
            return h ? `${h.instance}@${h.epoch}` : 'none';
          });
          assert.equal(new Set(holders).size, 1, `holders ${holders.join(' ')}`);
          const live = sessions.filter((s) => s !== null).length;
          assert.ok(live <= 1, `live sessions ${sessions.join(',')}`);
          const h = dirs[0]?.holder(FP);
          if (h) {
            const at = names.indexOf(h.relay as (typeof names)[number]);
            assert.equal(sessions[at], h.epoch, 'the holder is the relay with the live session');
          } else assert.equal(live, 0);
          return true;
        },
      ),
      { numRuns: 400 },
    );
  });
});
