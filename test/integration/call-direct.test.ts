// A direct call on loopback between two `wzp` processes: the call starts on the relay, the
// direct path is authenticated within the budget, both sides move media to it at an agreed frame
// without losing, doubling or reordering a frame, and the audio is intact both ways.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav, writeWav } from '../../src-main/engine/media/wav.ts';
import { WzpProcess } from '../support/cli.ts';
import { startRelay, type RunningRelay } from '../support/relay-harness.ts';
import { identityFiles } from '../support/test-identities.ts';
import { sineTone } from '../support/fixtures.ts';
import { dominantFrequency } from '../support/audio-analysis.ts';

let dir: string;
let relay: RunningRelay;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-direct-'));
  relay = await startRelay();
});
after(async () => {
  await relay.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('direct calls on loopback', () => {
  test('a call starts on the relay, moves to an authenticated direct path, and loses nothing', async () => {
    const ids = identityFiles(dir, ['alice', 'bob']);
    const wavs = [523, 784].map((f) => {
      const file = join(dir, `${f}.wav`);
      writeWav(file, sineTone({ freq: f, durationMs: 7000, amplitude: 0.4 }));
      return file;
    });
    const common = (i: number) => [
      '--relay',
      `127.0.0.1:${relay.quic.port}`,
      '--relay-fingerprint',
      relay.fingerprint,
      '--identity',
      ids[i]?.file ?? '',
      '--play',
      wavs[i] ?? '',
      '--record',
      join(dir, `heard-${i}.wav`),
      '--json',
    ];
    const callee = new WzpProcess(['answer', ...common(1)]);
    await callee.waitForEvent('waiting', 20000);
    const caller = new WzpProcess(['call', ids[1]?.fp ?? '', ...common(0), '--seconds', '6']);
    try {
      for (const p of [caller, callee]) {
        const connected = await p.waitForEvent('connected', 20000);
        assert.equal(connected.path, 'relay', 'calls start on the relay');
        const direct = await p.waitForEvent('direct', 10000);
        assert.equal(direct.ok, true, JSON.stringify(direct));
        assert.ok((direct.elapsedMs as number) < 3000);
        const moved = await p.waitFor(
          (e) => e.event === 'path' && e.path === 'direct',
          10000,
          'path direct',
        );
        assert.match(String(moved.reason), /from frame \d+/);
      }
      const ends = await Promise.all([
        caller.waitForEvent('ended', 30000),
        callee.waitForEvent('ended', 30000),
      ]);
      for (const e of ends) {
        assert.equal(e.framesConcealed, 0, `no frame lost across the switch: ${JSON.stringify(e)}`);
      }
      for (const p of [caller, callee]) {
        assert.ok(
          !p.events.some((e) => e.event === 'path' && e.path === 'relay'),
          'no fallback during the call',
        );
        const stats = p.events.filter((e) => e.event === 'stats');
        assert.ok(stats.some((s) => s.path === 'direct'));
      }
      assert.equal(await caller.exited, 0);
      assert.equal(await callee.exited, 0);
      const heardByBob = readWav(join(dir, 'heard-1.wav')).samples;
      const heardByAlice = readWav(join(dir, 'heard-0.wav')).samples;
      assert.ok(
        Math.abs(dominantFrequency(heardByBob.subarray(96_000, 240_000), 48_000) - 523) < 3,
      );
      assert.ok(
        Math.abs(dominantFrequency(heardByAlice.subarray(96_000, 240_000), 48_000) - 784) < 3,
      );
    } finally {
      await caller.stop();
      await callee.stop();
    }
  });
});
