// The relay-path call matrix (runs as root only; scripts/run-tests.mjs includes test/lab then):
// in every NAT-lab scenario a real `wzp call` to a real `wzp answer` with --no-direct, through a
// real `wzp relay` in the public namespace. Each side plays its own tone; each recording must
// hold the other side's tone (not its own: that would be an echo or a misrouted stream). Both
// sides must connect on the relay path, stay there, and end normally with frame counts.
// Wall time per scenario is printed as a diagnostic.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dominantFrequency, rmsDbfs } from '../support/audio-analysis.ts';
import { concat, RATE, silence, sineTone } from '../support/fixtures.ts';
import { withLabCall } from './lab-calls.ts';
import type { CallSide, LabCall } from './lab-calls.ts';
import { SCENARIO_NAMES, SCENARIOS } from './topologies.ts';

const SECONDS = 4;
const TONE_HZ: Record<CallSide, number> = { caller: 500, callee: 750 };
const OTHER: Record<CallSide, CallSide> = { caller: 'callee', callee: 'caller' };

function toneFor(side: CallSide): Int16Array {
  return concat(
    silence(200),
    sineTone({ freq: TONE_HZ[side], durationMs: (SECONDS + 2) * 1000, amplitude: 0.5, fadeMs: 10 }),
  );
}

/** When `proc` printed `event` (host clock), or NaN. */
function timeOf(proc: LabCall['caller'], event: string): number {
  const i = proc.events.findIndex((e) => e.event === event);
  return i < 0 ? Number.NaN : (proc.eventTimes[i] ?? Number.NaN);
}

/** The side heard the other side's tone, at its level, for most of the call. */
/** Returns the tone's onset in the recording, in ms. */
function assertHeardTone(call: LabCall, side: CallSide, concealed: number): number {
  const heard = call.recording(side);
  const start = heard.findIndex((x) => Math.abs(x) > 3000);
  assert.ok(start >= 0, `${side} heard something (${heard.length} samples recorded)`);
  // Skip the first 100 ms (jitter buffer fill, codec ramp), then analyse 1.5 s.
  const from = start + RATE / 10;
  const body = heard.subarray(from, from + Math.round(RATE * 1.5));
  assert.ok(body.length >= RATE, `${side} heard at least 1 s of tone (${body.length} samples)`);
  const f = dominantFrequency(body, RATE);
  const want = TONE_HZ[OTHER[side]];
  assert.ok(Math.abs(f - want) < 3, `${side} heard ${f.toFixed(1)} Hz, expected ${want} Hz`);
  // Level per 100 ms block from the tone's start to the end of the recording: the median block
  // must be near the -9 dBFS sent. A median, so that a short underrun on a loaded machine (a
  // scheduling stall, not a network fault) does not fail the matrix; the count of quiet blocks
  // is in the message when it does.
  const block = RATE / 10;
  const levels: number[] = [];
  for (let i = from; i + block <= heard.length; i += block)
    levels.push(rmsDbfs(heard, i, i + block));
  const onsetMs = Math.round((1000 * start) / RATE);
  assert.ok(
    levels.length >= 10 * (SECONDS - 2),
    `${side} recorded ${levels.length} blocks of tone (onset at ${onsetMs} ms)`,
  );
  const sorted = [...levels].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)] ?? -Infinity;
  const quiet = levels.filter((l) => l < -20).length;
  assert.ok(
    median > -12,
    `${side} heard the tone at a median ${median.toFixed(1)} dBFS (${quiet}/${levels.length} blocks under -20 dBFS, ${concealed} frames concealed)`,
  );
  return onsetMs;
}

describe('relay-path calls in every NAT-lab scenario (--no-direct)', () => {
  const times: string[] = [];
  for (const scenario of SCENARIO_NAMES) {
    test(`${scenario}: ${SCENARIOS[scenario].description}`, async (t) => {
      const t0 = Date.now();
      let phases = '';
      const onsets: string[] = [];
      await withLabCall(
        scenario,
        {
          caller: 'a',
          callee: 'b',
          seconds: SECONDS,
          play: { caller: toneFor('caller'), callee: toneFor('callee') },
          extraArgs: ['--no-direct'],
        },
        async (call) => {
          for (const side of ['caller', 'callee'] as const) {
            const c = await call.connected(side);
            assert.equal(c.path, 'relay', `${side} connected on the relay path`);
            assert.equal(c.peer, call.fingerprints[OTHER[side]], `${side} talks to the right peer`);
          }
          const end = await call.ended();
          assert.equal(end.callerCode, 0, `caller exit code; stderr: ${call.caller.stderr}`);
          assert.equal(end.calleeCode, 0, `callee exit code; stderr: ${call.callee.stderr}`);
          assert.equal(end.caller.reason, 'hangup-local', JSON.stringify(end.caller));
          assert.equal(end.callee.reason, 'hangup-remote', JSON.stringify(end.callee));
          for (const side of ['caller', 'callee'] as const) {
            const e = end[side];
            // A continuous tone is 50 frames/s (no DTX); leave room for start-up and teardown.
            assert.ok(e.framesSent > 25 * SECONDS, `${side} sent frames: ${JSON.stringify(e)}`);
            assert.ok(e.framesReceived > 25 * SECONDS, `${side} got frames: ${JSON.stringify(e)}`);
            assert.ok(e.durationS >= SECONDS - 0.5, `${side} call lasted: ${JSON.stringify(e)}`);
            const moves = call.pathChanges(side).filter((p) => p.path !== 'relay');
            assert.deepEqual(moves, [], `${side} never left the relay path`);
            const stats = call.stats(side);
            assert.ok(stats.length > 0, `${side} printed stats`);
            for (const s of stats) assert.notEqual(s.path, 'direct', `${side} stats on relay`);
            onsets.push(`${side} ${assertHeardTone(call, side, e.framesConcealed)}`);
          }
          const ready = timeOf(call.relay.proc, 'listening');
          const waiting = timeOf(call.callee, 'waiting');
          const connected = timeOf(call.caller, 'connected');
          phases = [
            `lab+relay ${ready - t0}`,
            `callee registered ${waiting - ready}`,
            `caller connected ${connected - waiting}`,
            `call ${timeOf(call.caller, 'ended') - connected}`,
          ].join(', ');
        },
      );
      const ms = Date.now() - t0;
      times.push(`${scenario} ${(ms / 1000).toFixed(1)} s`);
      t.diagnostic(
        `${scenario}: ${ms} ms wall time (${phases} ms, then teardown); tone onset in recordings (ms): ${onsets.join(', ')}`,
      );
    });
  }
  after(() => {
    process.stderr.write(`relay-calls wall time per scenario: ${times.join('; ')}\n`);
  });
});
