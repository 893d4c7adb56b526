// Adaptive quality on a real call (60 s, relay path through the seeded impairment hop): when
// loss appears the tier drops within about 2 s; when it goes away the tier comes back only by
// agreement (the upgrade events carry the agreement), one step at a time, without oscillating.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeWav } from '../../src-main/engine/media/wav.ts';
import { WzpProcess } from '../support/cli.ts';
import { startRelay } from '../support/relay-harness.ts';
import { startImpairmentHop } from '../support/impairment-hop.ts';
import { sineTone } from '../support/fixtures.ts';
import { freeUdpPort } from '../support/net.ts';
import { identityFiles } from '../support/test-identities.ts';

const dir = mkdtempSync(join(tmpdir(), 'wzp-quality-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('adaptive quality', () => {
  test('loss drops the tier within 2 s; recovery needs agreement and does not oscillate (60 s)', async () => {
    const stunPort = await freeUdpPort();
    const hop = await startImpairmentHop({
      listen: { host: '127.0.0.1', port: 0 },
      target: { host: '127.0.0.1', port: stunPort },
      multiClient: true,
      seed: 7,
    });
    const relay = await startRelay({
      stunPort,
      extraArgs: ['--announce-stun', `127.0.0.1:${hop.listen.port}`],
    });
    const ids = identityFiles(dir, ['a', 'b']);
    const wav = join(dir, 'tone.wav');
    writeWav(wav, sineTone({ freq: 600, durationMs: 62_000, amplitude: 0.4 }));
    const common = (i: number) => [
      '--relay',
      `127.0.0.1:${relay.quic.port}`,
      '--relay-fingerprint',
      relay.fingerprint,
      '--identity',
      ids[i]?.file ?? '',
      '--play',
      wav,
      '--no-direct',
      '--json',
    ];
    const callee = new WzpProcess(['answer', ...common(1)]);
    let caller: WzpProcess | null = null;
    try {
      await callee.waitForEvent('waiting', 20_000);
      caller = new WzpProcess(['call', ids[1]?.fp ?? '', ...common(0), '--seconds', '60']);
      await caller.waitForEvent('connected', 20_000);
      const procs = [caller, callee];
      const qualityOf = (p: WzpProcess) =>
        p.events
          .map((e, i) => ({ e, at: p.eventTimes[i] ?? NaN }))
          .filter((x) => x.e.event === 'quality');

      await sleep(8000);
      const lossAt = Date.now();
      hop.setParams({ up: { lossPct: 15 } });
      await sleep(15_000);
      const clearAt = Date.now();
      hop.setParams({ up: { lossPct: 0 } });
      await Promise.all(procs.map((p) => p.waitForEvent('ended', 60_000)));

      for (const p of procs) {
        const q = qualityOf(p);
        const firstDown = q.find((x) => x.at > lossAt && x.at < clearAt);
        assert.ok(firstDown, `a downgrade under loss: ${JSON.stringify(q.map((x) => x.e))}`);
        const latency = firstDown.at - lossAt;
        assert.ok(latency <= 2000, `tier dropped ${latency} ms after loss began`);
        const afterClear = q.filter((x) => x.at > clearAt).map((x) => x.e);
        const tiers = afterClear.map((e) => e.tier as number);
        assert.ok(afterClear.length > 0, 'the tier recovers once the loss is gone');
        for (let i = 1; i < tiers.length; i++) {
          assert.ok(
            (tiers[i] as number) > (tiers[i - 1] as number),
            `no oscillation after the loss: ${tiers.join(',')}`,
          );
        }
        for (const e of afterClear) {
          assert.match(
            String(e.reason),
            /agreed|peer/,
            `upgrades only by agreement: ${JSON.stringify(e)}`,
          );
        }
        assert.ok(q.length <= 8, `few tier changes in 60 s: ${q.length}`);
      }
    } finally {
      await caller?.stop();
      await callee.stop();
      await relay.stop();
      await hop.close();
    }
  });
});
