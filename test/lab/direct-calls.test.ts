// Direct calls through real Linux NAT (runs as root only): `wzp call` and `wzp answer` in their
// own namespaces, a relay in the public one, checked from their JSON events. Where a direct path
// can exist the call must reach it; where it cannot, the call must stay on the relay, keep
// working, and say why within the 3 s budget. A man in the middle is refused and reported; a
// direct path cut mid-call falls back to the relay within about a second and comes back.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dominantFrequency } from '../support/audio-analysis.ts';
import { RATE, sineTone } from '../support/fixtures.ts';
import { withLab, withLabCall, startLabCall, type LabCall } from './lab-calls.ts';
import type { ScenarioName } from './topologies.ts';

const TONE = { caller: 500, callee: 750 } as const;
const play = (seconds: number) => ({
  caller: sineTone({ freq: TONE.caller, durationMs: (seconds + 2) * 1000, amplitude: 0.5 }),
  callee: sineTone({ freq: TONE.callee, durationMs: (seconds + 2) * 1000, amplitude: 0.5 }),
});

async function directOutcome(
  call: LabCall,
): Promise<{ caller: Record<string, unknown>; callee: Record<string, unknown> }> {
  const [caller, callee] = await Promise.all([
    call.waitFor('caller', 'direct', undefined, 20_000),
    call.waitFor('callee', 'direct', undefined, 20_000),
  ]);
  return { caller, callee };
}

function assertHeard(call: LabCall): void {
  for (const side of ['caller', 'callee'] as const) {
    const heard = call.recording(side);
    const want = side === 'caller' ? TONE.callee : TONE.caller;
    const f = dominantFrequency(heard.subarray(RATE, RATE * 3), RATE);
    assert.ok(Math.abs(f - want) < 3, `${side} heard ${f.toFixed(1)} Hz, expected ${want}`);
  }
}

async function expectDirect(scenario: ScenarioName): Promise<void> {
  await withLabCall(
    scenario,
    { caller: 'a', callee: 'b', seconds: 5, play: play(5) },
    async (call) => {
      for (const side of ['caller', 'callee'] as const) {
        const connected = await call.connected(side);
        assert.equal(connected.path, 'relay', 'every call starts on the relay');
      }
      const d = await directOutcome(call);
      for (const side of ['caller', 'callee'] as const) {
        assert.equal(d[side].ok, true, `${scenario} ${side}: ${JSON.stringify(d[side])}`);
        assert.ok((d[side].elapsedMs as number) < 3000);
        await call.waitFor(side, 'path', (e) => e.path === 'direct', 10_000);
      }
      const end = await call.ended();
      assert.equal(end.callerCode, 0);
      assert.equal(end.calleeCode, 0);
      assertHeard(call);
    },
  );
}

async function expectRelay(scenario: ScenarioName, reasonPattern: RegExp): Promise<void> {
  await withLabCall(
    scenario,
    { caller: 'a', callee: 'b', seconds: 5, play: play(5) },
    async (call) => {
      const d = await directOutcome(call);
      for (const side of ['caller', 'callee'] as const) {
        assert.equal(
          d[side].ok,
          false,
          `${scenario} ${side} must stay on the relay: ${JSON.stringify(d[side])}`,
        );
        assert.ok(
          (d[side].elapsedMs as number) <= 3200,
          `gave up within the budget: ${JSON.stringify(d[side])}`,
        );
      }
      const reasons = `${String(d.caller.reason)} | ${String(d.callee.reason)}`;
      assert.match(reasons, reasonPattern);
      const end = await call.ended();
      assert.equal(end.callerCode, 0);
      assert.equal(end.calleeCode, 0);
      for (const side of ['caller', 'callee'] as const) {
        assert.ok(
          !call.pathChanges(side).some((p) => p.path === 'direct'),
          `${side} never moved to direct`,
        );
      }
      assertHeard(call);
    },
  );
}

describe('direct calls in the NAT lab', () => {
  test('both behind endpoint-independent NAT (MASQUERADE): direct', () =>
    expectDirect('cone-cone'));
  test('both behind NAT with home-router firewalls: direct', () => expectDirect('cone-cone-wanfw'));
  test('one client on a public address, the other behind NAT: direct', () =>
    expectDirect('public-cone'));
  test('both behind the same NAT: direct (host candidates)', () => expectDirect('same-nat'));
  test('both behind two layers of NAT: direct', () => expectDirect('double-cone'));
  test('both behind endpoint-dependent NAT (--random-fully): relay, with the reason', () =>
    expectRelay('symmetric-symmetric', /no direct path within 3000 ms/));
  test('UDP between the clients blocked: relay within 3 s, with the reason', () =>
    expectRelay('udp-blocked', /no direct path within 3000 ms/));

  test('a man in the middle presenting another identity is refused and reported', async () => {
    await withLab('cone-cone', async (lab) => {
      const [ra, rb] = [lab.client('a'), lab.client('b')];
      // The attacker sits in the "internet": traffic between the two routers goes to it instead.
      const mitm = lab.spawnNode(lab.public.ns, [
        'test/lab/mitm.ts',
        '--listen',
        `${lab.public.altIp}:9999`,
      ]);
      let mitmOut = '';
      mitm.stdout?.on('data', (d: Buffer) => (mitmOut += d.toString()));
      for (let i = 0; i < 100 && !mitmOut.includes('listening'); i++)
        await new Promise((r) => setTimeout(r, 50));
      assert.match(mitmOut, /listening/);
      for (const [from, to] of [
        [ra.wanIp, rb.wanIp],
        [rb.wanIp, ra.wanIp],
      ] as const) {
        const r = await lab.run(lab.public.ns, 'iptables', [
          '-t',
          'nat',
          '-A',
          'PREROUTING',
          '-p',
          'udp',
          '-s',
          from,
          '-d',
          to,
          '-j',
          'DNAT',
          '--to-destination',
          `${lab.public.altIp}:9999`,
        ]);
        assert.equal(r.code, 0, r.stderr);
      }
      const call = await startLabCall(lab, { caller: 'a', callee: 'b', seconds: 5, play: play(5) });
      try {
        const d = await directOutcome(call);
        const both = [d.caller, d.callee];
        assert.ok(
          both.every((x) => x.ok === false),
          JSON.stringify(both),
        );
        const dialer = both.find((x) => x.interception === true);
        assert.ok(dialer, `the dialing side reports an interception: ${JSON.stringify(both)}`);
        assert.match(String(dialer.reason), /possible interception/);
        assert.ok(
          both.some((x) => /interception/.test(String(x.reason)) && x !== dialer),
          'the other side is told why',
        );
        const end = await call.ended();
        assert.equal(end.callerCode, 0, 'the call itself carries on over the relay');
        assertHeard(call);
      } finally {
        await call.close();
        mitm.kill('SIGTERM');
      }
    });
  });

  test('the direct path cut mid-call: relay within about 1 s, back to direct once lifted', async () => {
    await withLabCall(
      'cone-cone',
      { caller: 'a', callee: 'b', seconds: 16, play: play(16) },
      async (call) => {
        for (const side of ['caller', 'callee'] as const)
          await call.waitFor(side, 'path', (e) => e.path === 'direct', 15_000);
        await new Promise((r) => setTimeout(r, 1500));
        const cutAt = Date.now();
        await call.lab.blockUdpBetweenClients();
        for (const side of ['caller', 'callee'] as const) {
          const back = await call.waitFor(side, 'path', (e) => e.path === 'relay', 5000);
          const at =
            call.pathChanges(side).find((p) => p.path === 'relay' && p.reason === back.reason)
              ?.at ?? NaN;
          assert.ok(at - cutAt < 2000, `${side} fell back ${at - cutAt} ms after the cut`);
        }
        await new Promise((r) => setTimeout(r, 2500));
        await call.lab.unblockUdpBetweenClients();
        const liftedAt = Date.now();
        for (const side of ['caller', 'callee'] as const) {
          const deadline = liftedAt + 10_000;
          while (!call.pathChanges(side).some((p) => p.path === 'direct' && p.at > liftedAt)) {
            assert.ok(
              Date.now() < deadline,
              `${side} back on direct after the cut was lifted: ${JSON.stringify(call.pathChanges(side))}`,
            );
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        const end = await call.ended();
        assert.equal(end.callerCode, 0);
        assert.equal(end.calleeCode, 0);
        // Audio kept flowing through both switches: few frames concealed over the whole call.
        for (const e of [end.caller, end.callee]) {
          assert.ok(e.framesConcealed / (e.durationS * 50) < 0.05, JSON.stringify(e));
        }
      },
    );
  });
});

describe('a network change on one side', () => {
  test('a new local address mid-call: media falls back to the relay, the call lives on, direct is retried', async () => {
    await withLabCall(
      'cone-cone',
      { caller: 'a', callee: 'b', seconds: 14, play: play(14) },
      async (call) => {
        for (const side of ['caller', 'callee'] as const)
          await call.waitFor(side, 'path', (e) => e.path === 'direct', 15_000);
        await new Promise((r) => setTimeout(r, 1000));
        const a = call.lab.client('a');
        const newIp = a.lanIp.replace(/\.\d+$/, '.99');
        // As a laptop that gets a new DHCP lease: the old address disappears under the open socket.
        const steps: string[][] = [
          ['sysctl', '-qw', 'net.ipv4.conf.eth0.promote_secondaries=1'],
          ['ip', 'addr', 'add', `${newIp}/24`, 'dev', 'eth0'],
          ['ip', 'addr', 'del', `${a.lanIp}/24`, 'dev', 'eth0'],
          ['ip', 'route', 'replace', 'default', 'via', a.gateway],
        ];
        for (const [cmd, ...args] of steps) {
          const r = await call.lab.run(a.ns, cmd as string, args);
          assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
        }
        const changedAt = Date.now();
        for (const side of ['caller', 'callee'] as const) {
          const back = await call.waitFor(side, 'path', (e) => e.path === 'relay', 5000);
          const at = call.pathChanges(side).find((p) => p.reason === back.reason)?.at ?? NaN;
          assert.ok(
            at - changedAt < 2500,
            `${side} moved to the relay ${at - changedAt} ms after the change`,
          );
        }
        // The old conntrack entries still hold the router's ports, so the new mapping towards the
        // peer may differ from the one STUN sees (endpoint-dependent until they expire): a new
        // attempt is made; whether it opens depends on the NAT, the call must not.
        const retried = await call.waitFor(
          'caller',
          'direct',
          (e) =>
            call
              .proc('caller')
              .events.filter((x) => x.event === 'direct')
              .indexOf(e) >= 1,
          12_000,
        );
        assert.equal(typeof retried.ok, 'boolean');
        const end = await call.ended();
        assert.equal(end.callerCode, 0, JSON.stringify(end.caller));
        assert.equal(end.calleeCode, 0, JSON.stringify(end.callee));
        for (const e of [end.caller, end.callee]) {
          assert.ok(e.framesConcealed / (e.durationS * 50) < 0.1, JSON.stringify(e));
        }
        assertHeard(call);
      },
    );
  });
});
