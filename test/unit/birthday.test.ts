// Birthday probing's pure part: NAT classification from two STUN servers, who plays which side,
// the bounded probe plan (distinct ports in range, rate cap, time bound) and its odds, checked
// against a simulated endpoint-dependent NAT.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DEFAULT_BIRTHDAY_BOUNDS,
  birthdayRole,
  classifyMapping,
  hitProbability,
  probePorts,
  probeSendAtMs,
  probesWithinBounds,
} from '../../src-main/engine/nat/birthday.ts';
import { mulberry32 as seededRandom } from '../support/impairment-model.ts';

const at = (host: string, port: number) => ({ host, port });

describe('NAT mapping from two STUN server addresses', () => {
  test('same public address from both: endpoint-independent; different: dependent', () => {
    const eim = [
      { server: at('198.18.0.1', 3478), mapped: at('198.18.1.2', 40000) },
      { server: at('198.18.0.1', 3479), mapped: at('198.18.1.2', 40000) },
    ];
    assert.equal(classifyMapping(eim), 'endpoint-independent');
    const edm = [eim[0]!, { server: at('198.18.0.1', 3479), mapped: at('198.18.1.2', 51234) }];
    assert.equal(classifyMapping(edm), 'endpoint-dependent');
  });
  test('one server (or the same one twice) tells nothing', () => {
    const one = { server: at('198.18.0.1', 3478), mapped: at('198.18.1.2', 40000) };
    assert.equal(classifyMapping([one]), 'unknown');
    assert.equal(classifyMapping([one, one]), 'unknown');
  });
  test('probing only between one hard and one easy side', () => {
    assert.equal(birthdayRole('endpoint-dependent', 'endpoint-independent'), 'hard');
    assert.equal(birthdayRole('endpoint-independent', 'endpoint-dependent'), 'easy');
    assert.equal(birthdayRole('endpoint-dependent', 'endpoint-dependent'), null);
    assert.equal(birthdayRole('endpoint-independent', 'endpoint-independent'), null);
    assert.equal(birthdayRole('unknown', 'endpoint-dependent'), null);
  });
});

describe('the probe plan', () => {
  test("Tailscale's figures: 256 mappings and 1,024 probes hit about 98 % of the time", () => {
    const p = hitProbability(256, 1024, 65535 - 1024 + 1);
    assert.ok(p > 0.98 && p < 0.99, String(p));
    assert.equal(hitProbability(0, 1024, 64512), 0);
    assert.equal(hitProbability(10, 64512, 64512), 1);
  });

  test('ports are distinct, in range, never excluded ones, and bounded in number', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1024, max: 60000 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.integer(),
        (maxProbes, minPort, spanLess, seed) => {
          const maxPort = Math.min(65535, minPort + spanLess);
          const bounds = { ...DEFAULT_BIRTHDAY_BOUNDS, maxProbes, minPort, maxPort };
          const exclude = new Set([minPort, maxPort]);
          const ports = probePorts(bounds, seededRandom(seed), exclude);
          assert.ok(ports.length <= maxProbes);
          assert.equal(new Set(ports).size, ports.length);
          for (const p of ports) {
            assert.ok(p >= minPort && p <= maxPort && !exclude.has(p));
          }
          assert.equal(ports.length, Math.min(maxProbes, maxPort - minPort + 1 - exclude.size));
        },
      ),
      { numRuns: 200 },
    );
  });

  test('the rate cap and the time bound hold: no probe is planned past either', () => {
    const b = DEFAULT_BIRTHDAY_BOUNDS;
    const n = probesWithinBounds(b);
    assert.equal(n, 1024);
    assert.ok(probeSendAtMs(n - 1, b) < b.maxMs);
    assert.equal(probesWithinBounds({ ...b, maxMs: 1000 }), 400);
  });

  test('against a simulated endpoint-dependent NAT the plan hits as often as the odds say', () => {
    const random = seededRandom(15);
    const b = DEFAULT_BIRTHDAY_BOUNDS;
    const span = b.maxPort - b.minPort + 1;
    let hits = 0;
    const trials = 300;
    for (let t = 0; t < trials; t++) {
      const open = new Set<number>();
      while (open.size < b.hardPorts) open.add(b.minPort + Math.floor(random() * span));
      if (probePorts(b, random).some((p) => open.has(p))) hits++;
    }
    const expected = hitProbability(b.hardPorts, b.maxProbes, span);
    assert.ok(Math.abs(hits / trials - expected) < 0.03, `${hits}/${trials} vs ${expected}`);
  });
});
