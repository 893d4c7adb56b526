// Ghost calls, end to end: two `wzp` processes in a call through a real relay process, and the
// relay dies (SIGKILL) mid-call or just as one side hangs up, or shuts down cleanly (SIGTERM)
// under a direct call. Both ends must leave a dead call on their own ("reconnecting" first, then
// "connection-lost", within 20 s), a hang-up must reach the peer on the direct path when the
// relay is gone, and a relay going away must not end a call whose direct path lives.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WzpProcess } from '../support/cli.ts';
import { startRelay, type RunningRelay } from '../support/relay-harness.ts';
import { identityFiles } from '../support/test-identities.ts';

/** What the issue allows for a dead call to be left: 15 s of silence plus a margin. */
const LEAVE_WITHIN_MS = 20_000;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-liveness-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface Pair {
  relay: RunningRelay;
  caller: WzpProcess;
  callee: WzpProcess;
}

async function callPair(name: string, opts: { direct: boolean }): Promise<Pair> {
  const relay = await startRelay();
  const ids = identityFiles(dir, [`${name}-alice`, `${name}-bob`]);
  const common = (i: number) => [
    '--relay',
    `127.0.0.1:${relay.quic.port}`,
    '--relay-fingerprint',
    relay.fingerprint,
    '--identity',
    ids[i]?.file ?? '',
    '--seconds',
    '120',
    '--json',
    ...(opts.direct ? [] : ['--no-direct']),
  ];
  const callee = new WzpProcess(['answer', ...common(1)]);
  await callee.waitForEvent('waiting', 20_000);
  const caller = new WzpProcess(['call', ids[1]?.fp ?? '', ...common(0)]);
  for (const p of [caller, callee]) await p.waitForEvent('connected', 20_000);
  if (opts.direct) {
    for (const p of [caller, callee])
      await p.waitFor((e) => e.event === 'path' && e.path === 'direct', 15_000, 'path direct');
  }
  // A few seconds of a healthy call first: stats flowing, nobody reconnecting.
  await caller.waitFor((e) => e.event === 'stats' && e.liveness === 'live', 10_000, 'live stats');
  return { relay, caller, callee };
}

async function cleanup(p: Pair): Promise<void> {
  await Promise.all([p.caller.stop('SIGKILL'), p.callee.stop('SIGKILL'), p.relay.stop()]);
}

/** `reconnecting` comes before `ended`, and the call ended as connection-lost. */
function assertLeftAsLost(p: WzpProcess, who: string): void {
  const names = p.events.map((e) => String(e.event));
  const rec = names.indexOf('reconnecting');
  const end = names.indexOf('ended');
  assert.ok(rec >= 0 && rec < end, `${who}: reconnecting before ended: ${names.join(',')}`);
  assert.ok(names.indexOf('lost') > rec, `${who}: a lost event`);
  assert.equal(
    p.events[end]?.reason,
    'connection-lost',
    `${who}: ${JSON.stringify(p.events[end])}`,
  );
  const staleStats = p.events.filter(
    (e, i) => e.event === 'stats' && i > rec && e.liveness === 'reconnecting',
  );
  for (const s of staleStats) {
    assert.equal(s.rttMs, null, `${who}: no round trip shown while reconnecting`);
    assert.equal(s.lossPct, 100);
  }
}

describe('ghost calls: the relay dies', () => {
  test('relay killed mid-call (relay path): both ends say reconnecting, then leave as connection-lost', async () => {
    const p = await callPair('kill', { direct: false });
    try {
      await p.relay.proc.stop('SIGKILL');
      const ends = await Promise.all([
        p.caller.waitForEvent('ended', LEAVE_WITHIN_MS),
        p.callee.waitForEvent('ended', LEAVE_WITHIN_MS),
      ]);
      assertLeftAsLost(p.caller, 'caller');
      assertLeftAsLost(p.callee, 'callee');
      for (const e of ends) assert.ok((e.durationS as number) > 0);
      assert.equal(await p.caller.exited, 1);
      assert.equal(await p.callee.exited, 1);
    } finally {
      await cleanup(p);
    }
  });

  test('relay killed as the caller hangs up: the caller leaves at once, the callee within 20 s', async () => {
    const p = await callPair('hangup', { direct: false });
    try {
      await p.relay.proc.stop('SIGKILL');
      p.caller.child.kill('SIGINT');
      const callerEnd = await p.caller.waitForEvent('ended', 5_000);
      assert.equal(callerEnd.reason, 'hangup-local');
      assert.equal(await p.caller.exited, 0);
      await p.callee.waitForEvent('ended', LEAVE_WITHIN_MS);
      assertLeftAsLost(p.callee, 'callee');
    } finally {
      await cleanup(p);
    }
  });

  test('direct call, relay killed: media goes on, and a hang-up reaches the peer on the direct path', async () => {
    const p = await callPair('direct', { direct: true });
    try {
      await p.relay.proc.stop('SIGKILL');
      // The call stays up: frames keep arriving on the direct path, nobody reconnects.
      const before = p.callee.events.length;
      await p.callee.waitFor(
        (e) =>
          e.event === 'stats' &&
          p.callee.events.indexOf(e) > before + 2 &&
          e.path === 'direct' &&
          e.liveness === 'live',
        10_000,
        'live direct stats after the relay died',
      );
      p.caller.child.kill('SIGINT');
      const end = await p.callee.waitForEvent('ended', 5_000);
      assert.equal(end.reason, 'hangup-remote', JSON.stringify(end));
      for (const w of [p.caller, p.callee])
        assert.ok(!w.events.some((e) => e.event === 'reconnecting'), 'never reconnecting');
      assert.equal(await p.callee.exited, 0);
    } finally {
      await cleanup(p);
    }
  });

  test('direct call, relay shuts down cleanly: not taken for the peer hanging up', async () => {
    const p = await callPair('sigterm', { direct: true });
    try {
      await p.relay.proc.stop('SIGTERM');
      await p.caller.waitFor(
        (e) => e.event === 'relay' && e.state !== 'registered',
        10_000,
        'relay lost',
      );
      // Three more seconds of call after the relay said it was going.
      const before = p.callee.events.filter((e) => e.event === 'stats').length;
      await p.callee.waitFor(
        (e) =>
          e.event === 'stats' &&
          p.callee.events.filter((x) => x.event === 'stats').indexOf(e) >= before + 3,
        10_000,
        'stats after the relay went away',
      );
      for (const w of [p.caller, p.callee]) {
        assert.ok(!w.events.some((e) => e.event === 'ended'), JSON.stringify(w.events.at(-1)));
      }
      p.callee.child.kill('SIGINT');
      const end = await p.caller.waitForEvent('ended', 5_000);
      assert.equal(end.reason, 'hangup-remote');
    } finally {
      await cleanup(p);
    }
  });
});
