// Port mapping through real routers (runs as root only): Debian's miniupnpd on both routers of
// a symmetric (endpoint-dependent) NAT pair, where STUN-learned addresses are useless; real
// `wzp call` / `wzp answer` processes must ask their router for a mapping, offer it as a
// `mapped` candidate and go direct through it. Routers whose service refuses or stays silent
// must change nothing but a short delay: the call is relayed exactly as before. The mapping is
// removed from the router when the phone quits.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dominantFrequency } from '../support/audio-analysis.ts';
import { RATE, sineTone } from '../support/fixtures.ts';
import { startLabCall, startLabRelay, withLab, type LabCall } from './lab-calls.ts';
import {
  PORT_MAPPING_SCENARIOS,
  startScenarioServices,
  type PortMappingScenarioName,
  type PortMappingService,
} from './port-mapping-routers.ts';

const SECONDS = 5;
const TONE = { caller: 500, callee: 750 } as const;
const play = {
  caller: sineTone({ freq: TONE.caller, durationMs: (SECONDS + 2) * 1000, amplitude: 0.5 }),
  callee: sineTone({ freq: TONE.callee, durationMs: (SECONDS + 2) * 1000, amplitude: 0.5 }),
};
const SIDES = ['caller', 'callee'] as const;

function assertHeard(call: LabCall): void {
  for (const side of SIDES) {
    const f = dominantFrequency(call.recording(side).subarray(RATE, RATE * 3), RATE);
    const want = side === 'caller' ? TONE.callee : TONE.caller;
    assert.ok(Math.abs(f - want) < 3, `${side} heard ${f.toFixed(1)} Hz, expected ${want}`);
  }
}

async function withScenario(
  name: PortMappingScenarioName,
  extraArgs: readonly string[],
  fn: (call: LabCall, services: PortMappingService[]) => Promise<void>,
): Promise<void> {
  await withLab(PORT_MAPPING_SCENARIOS[name].topology, async (lab) => {
    const relay = await startLabRelay(lab);
    let services: PortMappingService[] = [];
    try {
      services = await startScenarioServices(lab, name, { stun: relay.stun });
      const call = await startLabCall(lab, {
        caller: 'a',
        callee: 'b',
        seconds: SECONDS,
        relay,
        play,
        extraArgs,
      });
      try {
        await fn(call, services);
      } finally {
        await call.close();
      }
    } finally {
      await Promise.all(services.map((s) => s.stop()));
      await relay.stop();
    }
  });
}

/** DNAT rules miniupnpd holds in a router's MINIUPNPD chain. */
async function mappingsOn(call: LabCall, router: string): Promise<string[]> {
  const r = await call.lab.run(call.lab.router(router).ns, 'iptables-legacy-save', ['-t', 'nat']);
  return r.stdout.split('\n').filter((l) => l.startsWith('-A MINIUPNPD ') && /DNAT/.test(l));
}

async function expectRelayedAsBefore(
  call: LabCall,
  mappingReason: RegExp,
  maxMappingMs: number,
): Promise<void> {
  for (const side of SIDES) {
    const m = await call.waitFor(side, 'port-mapping', undefined, 30_000);
    assert.equal(m.ok, false, `${side}: ${JSON.stringify(m)}`);
    assert.match(String(m.reason), mappingReason);
    // A bound on the background probe, not a timing target: it includes the event-loop stalls
    // of a phone starting up on a loaded machine. What the call sees is checked below.
    assert.ok(
      (m.elapsedMs as number) <= maxMappingMs,
      `${side} gave up within the bound: ${JSON.stringify(m)}`,
    );
    const c = await call.connected(side);
    assert.equal(c.path, 'relay');
  }
  const d = await Promise.all(SIDES.map((s) => call.waitFor(s, 'direct', undefined, 15_000)));
  for (const e of d) {
    assert.equal(e.ok, false, JSON.stringify(e));
    // The attempt's own 3 s budget (its timer may fire late on a loaded machine): the router's
    // answer, or its silence, does not stretch it.
    assert.ok((e.elapsedMs as number) <= 4000, `within the usual budget: ${JSON.stringify(e)}`);
  }
  assert.match(d.map((e) => String(e.reason)).join(' | '), /no direct path within 3000 ms/);
  const end = await call.ended();
  assert.equal(end.callerCode, 0);
  assert.equal(end.calleeCode, 0);
  for (const side of SIDES)
    assert.ok(!call.pathChanges(side).some((p) => p.path === 'direct'), `${side} stayed relayed`);
  assertHeard(call);
}

describe('port mapping on the home router (miniupnpd in the NAT lab)', () => {
  test('symmetric NAT on both sides, miniupnpd on both routers: direct through the mapped addresses', async () => {
    await withScenario('symmetric-symmetric+miniupnpd', [], async (call) => {
      for (const side of SIDES) {
        const m = await call.waitFor(side, 'port-mapping', undefined, 30_000);
        assert.equal(m.ok, true, `${side}: ${JSON.stringify(m)}`);
        assert.equal(m.protocol, 'pcp', 'miniupnpd speaks PCP, which is asked first');
        const client = call.clients[side];
        assert.match(
          String(m.external),
          new RegExp(`^${client.wanIp.replace(/\./g, '\\.')}:\\d+$`),
        );
        assert.equal(m.gateway, client.gateway);
      }
      const d = await Promise.all(SIDES.map((s) => call.waitFor(s, 'direct', undefined, 15_000)));
      const timeline = SIDES.map(
        (s) =>
          `${s}: ` +
          call
            .proc(s)
            .events.map((e, i) =>
              ['port-mapping', 'connected', 'direct'].includes(String(e.event))
                ? `${String(e.event)}@${call.proc(s).eventTimes[i]} ${JSON.stringify(e)}`
                : '',
            )
            .filter((x) => x !== '')
            .join(' '),
      ).join('\n');
      for (const e of d) {
        assert.equal(e.ok, true, `${JSON.stringify(e)}\n${timeline}`);
        assert.ok((e.elapsedMs as number) < 3000, JSON.stringify(e));
      }
      // The dialer names the candidate it reached; the acceptor sees the dialer's router port.
      assert.ok(
        d.some((e) => /authenticated mapped /.test(String(e.reason))),
        `a side reached the other through its mapped candidate: ${JSON.stringify(d)}`,
      );
      for (const side of SIDES)
        await call.waitFor(side, 'path', (e) => e.path === 'direct', 10_000);
      assert.equal((await mappingsOn(call, 'r1')).length, 1, 'r1 holds our mapping mid-call');
      const end = await call.ended();
      assert.equal(end.callerCode, 0);
      assert.equal(end.calleeCode, 0);
      assertHeard(call);
      for (const r of ['r1', 'r2'])
        assert.deepEqual(await mappingsOn(call, r), [], `${r}: the mapping is removed on quit`);
    });
  });

  test('--no-port-mapping behind the same routers: nothing is asked, the call is relayed', async () => {
    await withScenario('symmetric-symmetric+miniupnpd', ['--no-port-mapping'], async (call) => {
      const d = await Promise.all(SIDES.map((s) => call.waitFor(s, 'direct', undefined, 15_000)));
      for (const e of d) assert.equal(e.ok, false, JSON.stringify(e));
      assert.deepEqual(await mappingsOn(call, 'r1'), []);
      const end = await call.ended();
      assert.equal(end.callerCode, 0);
      for (const side of SIDES)
        assert.ok(!call.proc(side).events.some((e) => e.event === 'port-mapping'));
    });
  });

  test('routers whose service answers with errors: a short delay, then relayed as before', () =>
    withScenario('symmetric-symmetric+refusing', [], (call) =>
      expectRelayedAsBefore(call, /NO_RESOURCES|not public/, 4000),
    ));

  test('routers that never answer: given up on within the bound, relayed as before', () =>
    withScenario('symmetric-symmetric+silent', [], (call) =>
      expectRelayedAsBefore(call, /no PCP answer.*no UPnP gateway answered/, 5000),
    ));
});
