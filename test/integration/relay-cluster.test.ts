// Three real `wzp relay` processes clustered through a real `nats-server`, with real clients on
// loopback: presence across relays, calls routed from a client on r1 to one on r3 (signals, and
// relayed media through both relays' UDP planes), one registration per identity cluster-wide,
// a relay killed with SIGKILL, and a NATS outage the cluster recovers from by itself.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { readWav, writeWav } from '../../src-main/engine/media/wav.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import type { RelayToClient } from '../../src-shared/relay-protocol.ts';
import {
  clusterOf,
  startCluster,
  waitForCluster,
  waitForLog,
  type RunningCluster,
} from '../support/cluster-harness.ts';
import { nextLinkEvent, startClient, type TestClient } from '../support/relay-harness.ts';
import { relayedMediaBothWays } from '../support/relay-media.ts';
import { WzpProcess } from '../support/cli.ts';
import { identityFiles } from '../support/test-identities.ts';
import { sineTone } from '../support/fixtures.ts';
import { dominantFrequency } from '../support/audio-analysis.ts';
import type { RunningRelay } from '../support/relay-harness.ts';

let cluster: RunningCluster;
let dir: string;
const clients: TestClient[] = [];
async function client(
  relay: string,
  opts: Parameters<typeof startClient>[1] = {},
): Promise<TestClient> {
  const c = await startClient(cluster.relay(relay), opts);
  clients.push(c);
  return c;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-cluster-'));
  cluster = await startCluster(['r1', 'r2', 'r3']);
});
after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** `wzp answer` registered on `calleeRelay`, `wzp call` on `callerRelay`, a tone each way. */
async function cliCall(
  callerRelay: RunningRelay,
  calleeRelay: RunningRelay,
  opts: { direct: boolean; tag: string },
) {
  const ids = identityFiles(dir, [`${opts.tag}-a`, `${opts.tag}-b`]);
  const freqs = [523, 784];
  const wavs = freqs.map((f) => {
    const file = join(dir, `${opts.tag}-${f}.wav`);
    writeWav(file, sineTone({ freq: f, durationMs: 6000, amplitude: 0.4 }));
    return file;
  });
  const args = (i: number, relay: RunningRelay) => [
    '--relay',
    `${relay.quic.host}:${relay.quic.port}`,
    '--relay-fingerprint',
    relay.fingerprint,
    '--identity',
    ids[i]?.file ?? '',
    '--play',
    wavs[i] ?? '',
    '--record',
    join(dir, `${opts.tag}-heard-${i}.wav`),
    '--json',
    ...(opts.direct ? [] : ['--no-direct']),
  ];
  const callee = new WzpProcess(['answer', ...args(1, calleeRelay)]);
  try {
    await callee.waitForEvent('waiting', 20000);
    const caller = new WzpProcess([
      'call',
      ids[1]?.fp ?? '',
      ...args(0, callerRelay),
      '--seconds',
      '4',
    ]);
    try {
      const ends = await Promise.all([
        caller.waitForEvent('ended', 40000),
        callee.waitForEvent('ended', 40000),
      ]);
      assert.equal(await caller.exited, 0, caller.stderr);
      assert.equal(await callee.exited, 0, callee.stderr);
      for (const e of ends) assert.ok((e.framesReceived as number) > 100, JSON.stringify(e));
      // Each side heard the other's tone.
      for (const [i, f] of [
        [0, freqs[1]],
        [1, freqs[0]],
      ] as const) {
        const heard = readWav(join(dir, `${opts.tag}-heard-${i}.wav`)).samples;
        const body = heard.subarray(48_000, 48_000 * 3);
        assert.ok(
          Math.abs(dominantFrequency(body, 48_000) - (f ?? 0)) < 3,
          `side ${i} heard ${f} Hz`,
        );
      }
      return { caller, callee };
    } finally {
      await caller.stop();
    }
  } finally {
    await callee.stop();
  }
}

/** Invite from `a` to `b`, `b` rings and accepts; resolves with both media grants. */
async function establish(a: TestClient, b: TestClient, callId = newCallId()) {
  const invited = nextLinkEvent(b.link, 'signal', (s) => s.callId === callId);
  await a.link.sendSignal(b.identity.fingerprint, callId, { kind: 'invite', direct: false });
  const inv = await invited;
  assert.equal(inv.from, a.identity.fingerprint);
  const ringing = nextLinkEvent(
    a.link,
    'signal',
    (s) => s.callId === callId && s.signal.kind === 'ringing',
  );
  await b.link.sendSignal(a.identity.fingerprint, callId, { kind: 'ringing' });
  await ringing;
  const grantA = nextLinkEvent(a.link, 'media-grant', (g) => g.callId === callId);
  const grantB = nextLinkEvent(b.link, 'media-grant', (g) => g.callId === callId);
  const accepted = nextLinkEvent(
    a.link,
    'signal',
    (s) => s.callId === callId && s.signal.kind === 'accept',
  );
  await b.link.sendSignal(a.identity.fingerprint, callId, { kind: 'accept', direct: false });
  await accepted;
  const [ga, gb] = await Promise.all([grantA, grantB]);
  return { callId, ga, gb };
}

describe('a cluster of three relays on NATS', () => {
  test('each relay hears the others and says so on its health line', async () => {
    for (const name of ['r1', 'r2', 'r3']) {
      const m = await cluster.relay(name).health();
      const c = clusterOf(m);
      assert.equal(c.name, name);
      assert.equal(c.link, 'up');
      assert.deepEqual(
        c.peers.map((p) => p.relay).sort(),
        ['r1', 'r2', 'r3'].filter((n) => n !== name),
      );
    }
  });

  test('presence across relays: a contact on r1 is online for a watcher on r3, then offline', async () => {
    const watcher = await client('r3');
    const contact = Identity.generate();
    const initial = nextLinkEvent(
      watcher.link,
      'presence',
      (p) => p.fingerprint === contact.fingerprint,
    );
    await watcher.link.subscribe([contact.fingerprint]);
    assert.equal((await initial).online, false);
    const online = nextLinkEvent(
      watcher.link,
      'presence',
      (p) => p.fingerprint === contact.fingerprint && p.online,
    );
    const c = await client('r1', { identity: contact });
    await online;
    // A late subscriber on r2 learns the state at once, from r2's own copy of the directory.
    const late = await client('r2');
    const now = nextLinkEvent(late.link, 'presence', (p) => p.fingerprint === contact.fingerprint);
    await late.link.subscribe([contact.fingerprint]);
    assert.equal((await now).online, true);
    const offline = nextLinkEvent(
      watcher.link,
      'presence',
      (p) => p.fingerprint === contact.fingerprint && !p.online,
    );
    await c.close();
    await offline;
  });

  test('one registration per identity: a newer one on r2 replaces r1’s, which is told why', async () => {
    const identity = Identity.generate();
    const watcher = await client('r3');
    await watcher.link.subscribe([identity.fingerprint]);
    const first = await client('r1', { identity });
    const told: RelayToClient[] = [];
    first.link.connection?.on('signal', (m) => told.push(m));
    const seen: boolean[] = [];
    watcher.link.on(
      'presence',
      (p) => p.fingerprint === identity.fingerprint && seen.push(p.online),
    );
    const gone = nextLinkEvent(first.link, 'disconnected');
    const second = await client('r2', { identity });
    const d = await gone;
    assert.equal(d.willRetry, false, 'the replaced client does not fight back');
    const replaced = told.find((m) => m.t === 'replaced');
    assert.ok(replaced && replaced.t === 'replaced', JSON.stringify(told));
    assert.match(replaced.reason ?? '', /relay r2/);
    // The identity stayed online throughout for the watcher, and r1 no longer holds it.
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!seen.includes(false), `presence seen by the watcher: ${seen.join(',')}`);
    const r1 = await cluster.relay('r1').health();
    assert.ok((clusterOf(r1) as unknown as { evictions: number }).evictions >= 1);
    assert.equal(second.link.state, 'registered');
  });

  test('a call from r1 to r3: routed signals, relayed media both ways through both relays, hang-up', async () => {
    const alice = await client('r1');
    const bob = await client('r3');
    const eve = await client('r2');
    const { callId, ga, gb } = await establish(alice, bob);
    const r1 = cluster.relay('r1');
    const r3 = cluster.relay('r3');
    // Each party is granted media on its own relay; the relays forward between themselves.
    assert.deepEqual(ga.media, r1.stun);
    assert.deepEqual(gb.media, r3.stun);

    // Eve, on a third relay, cannot speak in the call.
    const eveError = nextLinkEvent(eve.link, 'call-error', (e) => e.callId === callId);
    await eve.link.sendSignal(alice.identity.fingerprint, callId, {
      kind: 'hangup',
      reason: 'normal',
    });
    assert.equal((await eveError).reason, 'unknown-call');

    await relayedMediaBothWays(ga, gb, () => r1.health());
    for (const relay of [r1, r3]) {
      const m = await relay.health();
      const fwd = (m.media as { forwarder: Record<string, number> }).forwarder;
      assert.ok((fwd.trunkOut ?? 0) >= 20 && (fwd.trunkIn ?? 0) >= 20, JSON.stringify(fwd));
      assert.ok((m.crossRelayCalls as number) >= 1);
    }

    const hungUp = nextLinkEvent(
      bob.link,
      'signal',
      (s) => s.callId === callId && s.signal.kind === 'hangup',
    );
    await alice.link.sendSignal(bob.identity.fingerprint, callId, {
      kind: 'hangup',
      reason: 'normal',
    });
    assert.deepEqual((await hungUp).signal, { kind: 'hangup', reason: 'normal' });
    // Both relays forgot the call and its media.
    for (const [c, relay] of [
      [alice, r1],
      [bob, r3],
    ] as const) {
      const gone = nextLinkEvent(c.link, 'call-error', (e) => e.callId === callId);
      const other = c === alice ? bob : alice;
      await c.link.sendSignal(other.identity.fingerprint, callId, { kind: 'ringing' });
      assert.equal((await gone).reason, 'unknown-call');
      const m = await relay.health();
      assert.equal((m.media as { forwarder: Record<string, number> }).forwarder.trunks, 0);
    }
  });

  test('a callee on another relay who disconnects ends the call for the caller with remote-gone', async () => {
    const alice = await client('r1');
    const bob = await client('r2');
    const callId = newCallId();
    const invited = nextLinkEvent(bob.link, 'signal', (s) => s.callId === callId);
    await alice.link.sendSignal(bob.identity.fingerprint, callId, { kind: 'invite', direct: true });
    await invited;
    const gone = nextLinkEvent(
      alice.link,
      'signal',
      (s) => s.callId === callId && s.signal.kind === 'hangup',
    );
    await bob.close();
    assert.deepEqual((await gone).signal, { kind: 'hangup', reason: 'remote-gone' });
  });

  test('an invite to an identity online nowhere in the cluster fails at once as offline', async () => {
    const alice = await client('r1');
    const callId = newCallId();
    const err = nextLinkEvent(alice.link, 'call-error', (e) => e.callId === callId);
    await alice.link.sendSignal(Identity.generate().fingerprint, callId, {
      kind: 'invite',
      direct: true,
    });
    assert.equal((await err).reason, 'offline');
  });

  test('wzp call on r1 to wzp answer on r3 with --no-direct: audio both ways through both relays', async () => {
    const r1 = cluster.relay('r1');
    const r3 = cluster.relay('r3');
    const before = await Promise.all([r1.health(), r3.health()]);
    const { caller, callee } = await cliCall(r1, r3, { direct: false, tag: 'relayed' });
    for (const p of [caller, callee]) {
      assert.equal(p.events.find((e) => e.event === 'connected')?.path, 'relay');
      assert.ok(!p.events.some((e) => e.event === 'path' && e.path === 'direct'));
    }
    const after = await Promise.all([r1.health(), r3.health()]);
    after.forEach((m, i) => {
      const fwd = (m.media as { forwarder: Record<string, number> }).forwarder;
      const was = (before[i]?.media as { forwarder: Record<string, number> }).forwarder;
      const out = (fwd.trunkOut ?? 0) - (was.trunkOut ?? 0);
      const inn = (fwd.trunkIn ?? 0) - (was.trunkIn ?? 0);
      assert.ok(
        out > 100 && inn > 100,
        `relay ${i === 0 ? 'r1' : 'r3'} trunk frames ${out} out, ${inn} in`,
      );
    });
  });

  test('wzp call on r1 to wzp answer on r3: the call goes direct', async () => {
    const { caller, callee } = await cliCall(cluster.relay('r1'), cluster.relay('r3'), {
      direct: true,
      tag: 'direct',
    });
    for (const p of [caller, callee]) {
      assert.equal(p.events.find((e) => e.event === 'connected')?.path, 'relay');
      const direct = p.events.find((e) => e.event === 'direct');
      assert.equal(direct?.ok, true, JSON.stringify(direct));
      assert.ok(p.events.some((e) => e.event === 'path' && e.path === 'direct'));
    }
  });

  test('r2 killed with SIGKILL mid-call: its clients re-register elsewhere within 5 s, the direct call goes on without a gap, its registrations expire', async () => {
    // A direct call between two wzp processes registered on r2, with r3 and r1 as fallbacks.
    const [r1, r2, r3] = [cluster.relay('r1'), cluster.relay('r2'), cluster.relay('r3')];
    const ids = identityFiles(dir, ['kill-a', 'kill-b']);
    const wav = join(dir, 'kill-tone.wav');
    writeWav(wav, sineTone({ freq: 523, durationMs: 14_000, amplitude: 0.4 }));
    const args = (i: number) => [
      ...[r2, r3, r1].flatMap((r) => ['--relay', `${r.quic.host}:${r.quic.port}`]),
      ...[r2, r3, r1].flatMap((r) => ['--relay-fingerprint', r.fingerprint]),
      '--identity',
      ids[i]?.file ?? '',
      '--play',
      wav,
      '--json',
    ];
    const callee = new WzpProcess(['answer', ...args(1)]);
    let caller: WzpProcess | null = null;
    const phones: WzpProcess[] = [callee];
    try {
      await callee.waitForEvent('waiting', 30000);
      caller = new WzpProcess(['call', ids[1]?.fp ?? '', ...args(0), '--seconds', '12']);
      phones.unshift(caller);
      for (const p of phones)
        await p.waitFor((e) => e.event === 'path' && e.path === 'direct', 30000, 'path direct');
      // Let the direct path carry a moment of audio first.
      await new Promise((r) => setTimeout(r, 1000));
      const before = phones.map((p) => p.events.filter((e) => e.event === 'stats').at(-1));
      await runKill(before);
    } finally {
      await caller?.stop();
      await callee.stop();
    }

    async function runKill(statsBefore: (Record<string, unknown> | undefined)[]) {
      // A client with the cluster's relays in its list moves to the next when r2 dies.
      const mobile = await client('r2', { fallbacks: [r3, r1] });
      const moved = nextLinkEvent(
        mobile.link,
        'registered',
        (r) => r.address.port !== cluster.relay('r2').quic.port,
        8000,
      );
      const onR2 = await client('r2');
      const watcher = await client('r1');
      void r2;
      const online = nextLinkEvent(
        watcher.link,
        'presence',
        (p) => p.fingerprint === onR2.identity.fingerprint,
      );
      await watcher.link.subscribe([onR2.identity.fingerprint]);
      assert.equal((await online).online, true);
      const offline = nextLinkEvent(
        watcher.link,
        'presence',
        (p) => p.fingerprint === onR2.identity.fingerprint && !p.online,
        8000,
      );
      const t0 = Date.now();
      cluster.relay('r2').proc.child.kill('SIGKILL');
      await offline;
      const expiredAfterMs = Date.now() - t0;
      assert.ok(expiredAfterMs < 5000, `offline after ${expiredAfterMs} ms`);
      const again = await moved;
      const movedAfterMs = Date.now() - t0;
      assert.deepEqual(again.address, cluster.relay('r3').quic, 'the next relay of its list');
      assert.ok(movedAfterMs < 5000, `registered again after ${movedAfterMs} ms`);
      const c = await waitForCluster(
        cluster.relay('r3'),
        (v) => !v.peers.some((p) => p.relay === 'r2'),
        'r3 to drop r2',
      );
      assert.deepEqual(
        c.peers.map((p) => p.relay),
        ['r1'],
      );
      await onR2.close();
      cluster.relays.delete('r2');

      // Both phones registered on r3 (the next of their list) within 5 s of the kill.
      for (const p of phones) {
        const back = await p.waitFor(
          (e) => e.event === 'relay' && e.state === 'registered',
          8000,
          'registered again',
        );
        const at = p.eventTimes[p.events.indexOf(back)] as number;
        assert.ok(at - t0 < 5000, `registered again after ${at - t0} ms`);
        assert.equal(back.address, `${r3.quic.host}:${r3.quic.port}`);
      }
      // The call went on on the direct path and ended normally, through the relay it moved to.
      const ends = await Promise.all(phones.map((p) => p.waitForEvent('ended', 30000)));
      assert.deepEqual(ends.map((e) => e.reason).sort(), ['hangup-local', 'hangup-remote']);
      phones.forEach((p, i) => {
        assert.ok(!p.events.some((e) => e.event === 'path' && e.path === 'relay'), 'stayed direct');
        const b = statsBefore[i];
        const end = ends[i] as Record<string, number>;
        // A gap would conceal ~50 frames a second; compare with this same call before the kill,
        // so a machine too busy to play audio in time is not taken for a gap.
        const connectedAt = p.eventTimes[p.events.findIndex((e) => e.event === 'connected')] ?? t0;
        const before = (b?.framesConcealed as number) ?? 0;
        const rateBefore = before / Math.max(1, (t0 - connectedAt) / 1000);
        const after = (end.framesConcealed ?? 0) - before;
        const endedAt = p.eventTimes[p.events.indexOf(ends[i] as Record<string, unknown>)] ?? t0;
        const allowed = 2 + 1.5 * rateBefore * ((endedAt - t0) / 1000);
        assert.ok(after <= allowed, `concealed after the kill: ${after}, allowed ${allowed}`);
      });
      const r3m = await r3.health();
      assert.ok((r3m.callsResumed as number) >= 1, 'r3 took the call over');
    }
  });

  test('a call whose relay died is resumed when both parties name it on their new relays', async () => {
    // Alice and Bob were in an answered call on a relay that is gone (r2, killed above); they
    // register again, on r1 and r3, and each names the call to its new relay.
    const ids = [Identity.generate(), Identity.generate()] as const;
    const callId = newCallId();
    // The counters are the relays' lifetime totals; the test before may have resumed a call on r3.
    const resumedBefore = new Map<string, number>();
    for (const name of ['r1', 'r3']) {
      resumedBefore.set(name, ((await cluster.relay(name).health()).callsResumed as number) ?? 0);
    }
    const alice = await client('r1', { identity: ids[0] });
    const grantA = nextLinkEvent(alice.link, 'media-grant', (g) => g.callId === callId);
    await alice.link.connection?.sendSignal({
      t: 'resume',
      calls: [{ callId, peer: ids[1].fingerprint }],
    });
    // A third client naming the call with Alice gets nothing: Alice did not name it.
    const mallory = await client('r3');
    await mallory.link.connection?.sendSignal({
      t: 'resume',
      calls: [{ callId: newCallId(), peer: ids[0].fingerprint }],
    });
    const bob = await client('r3', { identity: ids[1] });
    const grantB = nextLinkEvent(bob.link, 'media-grant', (g) => g.callId === callId);
    await bob.link.connection?.sendSignal({
      t: 'resume',
      calls: [{ callId, peer: ids[0].fingerprint }],
    });
    const [ga, gb] = await Promise.all([grantA, grantB]);
    await relayedMediaBothWays(ga, gb, () => cluster.relay('r1').health());
    const hungUp = nextLinkEvent(
      bob.link,
      'signal',
      (s) => s.callId === callId && s.signal.kind === 'hangup',
    );
    await alice.link.sendSignal(bob.identity.fingerprint, callId, {
      kind: 'hangup',
      reason: 'normal',
    });
    await hungUp;
    for (const name of ['r1', 'r3']) {
      const m = await cluster.relay(name).health();
      assert.equal(
        (m.callsResumed as number) - (resumedBefore.get(name) ?? 0),
        1,
        `${name} resumed exactly Alice and Bob's call`,
      );
    }
  });

  test('NATS restarted: relays keep serving their own clients, then the cluster recovers by itself', async () => {
    const r1 = cluster.relay('r1');
    const r3 = cluster.relay('r3');
    const a = await client('r1');
    const b = await client('r1');
    const far = await client('r3');
    await cluster.nats.kill();
    await waitForCluster(r1, (c) => c.link === 'down', 'r1 to see the link down');
    await waitForLog(r1, /cluster link down: calls only between clients on this relay/);

    // Calls between two clients of r1 go on as on a relay of its own.
    await establish(a, b);
    // A party on r3 is out of reach until NATS is back: offline, at once (r3 timed out).
    await waitForCluster(r1, (c) => c.peers.length === 0, 'r1 to drop its unheard peers');
    const callId = newCallId();
    const err = nextLinkEvent(a.link, 'call-error', (e) => e.callId === callId);
    await a.link.sendSignal(far.identity.fingerprint, callId, { kind: 'invite', direct: true });
    assert.equal((await err).reason, 'offline');

    await cluster.nats.restart();
    for (const relay of [r1, r3]) {
      await waitForCluster(
        relay,
        (c) => c.link === 'up' && c.peers.length === 1,
        'the link and the peer back',
        15_000,
      );
    }
    // The directory is whole again: a client of r1 sees far online and can call it on r3.
    const online = nextLinkEvent(
      a.link,
      'presence',
      (p) => p.fingerprint === far.identity.fingerprint && p.online,
    );
    await a.link.subscribe([far.identity.fingerprint]);
    await online;
    const { ga, gb } = await establish(a, far);
    await relayedMediaBothWays(ga, gb, () => r1.health());
  });
});
