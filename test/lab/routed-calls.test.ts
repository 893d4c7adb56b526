// Direct calls across a routed lab internet (issue 11; runs as root only): home routers behind
// ISP routers, the relay not where the two paths meet (farther than the peer's NAT, nearer for
// one side and farther for the other, 15+ hops across a backbone), and a CGNAT layer per home.
// Real `wzp call` / `wzp answer` processes; each must go `path: direct`, which a punch TTL taken
// from the relay's distance does not achieve in these (docs/ARCHITECTURE.md "Hole punching").
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { withLabCall } from './lab-calls.ts';
import type { ScenarioName } from './topologies.ts';

async function expectDirect(scenario: ScenarioName): Promise<void> {
  await withLabCall(
    scenario,
    { caller: 'a', callee: 'b', seconds: 3, record: false },
    async (call) => {
      const [caller, callee] = await Promise.all([
        call.waitFor('caller', 'direct', undefined, 20_000),
        call.waitFor('callee', 'direct', undefined, 20_000),
      ]);
      for (const [side, d] of [
        ['caller', caller],
        ['callee', callee],
      ] as const) {
        assert.equal(d.ok, true, `${scenario} ${side}: ${JSON.stringify(d)}`);
        await call.waitFor(side, 'path', (e) => e.path === 'direct', 10_000);
      }
      const end = await call.ended();
      assert.equal(end.callerCode, 0, JSON.stringify(end.caller));
      assert.equal(end.calleeCode, 0, JSON.stringify(end.callee));
    },
  );
}

describe('direct calls across a routed internet, the relay off the path', () => {
  for (const s of [
    'routed-relay-far',
    'routed-asymmetric',
    'routed-backbone-wanfw',
    'routed-double-nat',
  ] as const) {
    test(`${s}: direct`, () => expectDirect(s));
  }
});
