// Real calls between `wzp call` and `wzp answer` processes through a real `wzp relay` on loopback
// (--no-direct): audio goes in as WAV on each side and is checked in the other side's recording;
// then the same call through the seeded impairment hop at 10 % loss and at 30 ms jitter.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readWav, writeWav } from '../../src-main/engine/media/wav.ts';
import { WzpProcess } from '../support/cli.ts';
import { startRelay, type RunningRelay } from '../support/relay-harness.ts';
import { startImpairmentHop, type ImpairmentHop } from '../support/impairment-hop.ts';
import { concat, sineTone, silence, spokenPhrase } from '../support/fixtures.ts';
import { alignedCorrelation, dominantFrequency, rmsDbfs } from '../support/audio-analysis.ts';
import { freeUdpPort } from '../support/net.ts';
import { identityFiles, type IdentityFile } from '../support/test-identities.ts';

let dir: string;
let alice: IdentityFile;
let bob: IdentityFile;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-call-'));
  [alice, bob] = identityFiles(dir, ['alice', 'bob']) as [IdentityFile, IdentityFile];
});
after(() => rmSync(dir, { recursive: true, force: true }));

interface CallRun {
  caller: WzpProcess;
  callee: WzpProcess;
  callerEnded: Record<string, unknown>;
  calleeEnded: Record<string, unknown>;
}

async function runCall(
  relay: RunningRelay,
  opts: { seconds: number; callerWav: string; calleeWav: string; tag: string },
): Promise<CallRun> {
  const common = (id: { file: string }, wav: string, rec: string) => [
    '--relay',
    `${relay.quic.host}:${relay.quic.port}`,
    '--relay-fingerprint',
    relay.fingerprint,
    '--identity',
    id.file,
    '--play',
    wav,
    '--record',
    rec,
    '--no-direct',
    '--json',
  ];
  const callee = new WzpProcess([
    'answer',
    ...common(bob, opts.calleeWav, join(dir, `${opts.tag}-bob-heard.wav`)),
  ]);
  await callee.waitForEvent('waiting', 20000);
  const caller = new WzpProcess([
    'call',
    bob.fp,
    ...common(alice, opts.callerWav, join(dir, `${opts.tag}-alice-heard.wav`)),
    '--seconds',
    String(opts.seconds),
  ]);
  try {
    const callerEnded = await caller.waitForEvent('ended', (opts.seconds + 30) * 1000);
    const calleeEnded = await callee.waitForEvent('ended', 15000);
    assert.equal(await caller.exited, 0, caller.stderr);
    assert.equal(await callee.exited, 0, callee.stderr);
    return { caller, callee, callerEnded, calleeEnded };
  } finally {
    await caller.stop();
    await callee.stop();
  }
}

function lastStats(p: WzpProcess): Record<string, number> {
  const s = p.events.filter((e) => e.event === 'stats').at(-1);
  assert.ok(s, 'stats events were printed');
  return s as unknown as Record<string, number>;
}

describe('calls over the relay path', () => {
  let relay: RunningRelay;
  before(async () => {
    relay = await startRelay();
  });
  after(async () => {
    await relay.stop();
  });

  test('a tone one way and a spoken phrase the other are heard, and both sides report the call', async () => {
    const phrase = spokenPhrase('Hello Alice, this is Bob calling over the relay.');
    assert.ok(phrase, 'espeak-ng is needed for this test (.ci/run installs it)');
    const tone = concat(
      silence(300),
      sineTone({ freq: 440, durationMs: 4000, amplitude: 0.5, fadeMs: 10 }),
    );
    const toneWav = join(dir, 'tone.wav');
    const phraseWav = join(dir, 'phrase.wav');
    writeWav(toneWav, tone);
    writeWav(phraseWav, concat(silence(300), phrase));
    const run = await runCall(relay, {
      seconds: 6,
      callerWav: toneWav,
      calleeWav: phraseWav,
      tag: 'clean',
    });

    for (const p of [run.caller, run.callee]) {
      const names = p.events.map((e) => e.event);
      for (const ev of ['registered', 'ringing', 'verified', 'connected', 'stats', 'ended']) {
        assert.ok(names.includes(ev), `${ev} in ${names.join(',')}`);
      }
      assert.deepEqual(p.events.find((e) => e.event === 'connected')?.path, 'relay');
      assert.equal(
        p.events.find((e) => e.event === 'registered')?.relay,
        relay.fingerprint,
        'registered names the relay its certificate proved',
      );
    }
    const sasA = run.caller.events.find((e) => e.event === 'verified')?.sas;
    const sasB = run.callee.events.find((e) => e.event === 'verified')?.sas;
    assert.ok(
      typeof sasA === 'string' && sasA === sasB,
      'both sides derive the same security code',
    );
    assert.equal(run.callerEnded.reason, 'hangup-local');
    assert.equal(run.calleeEnded.reason, 'hangup-remote');
    // Silence is sent as sparse DTX keep-alives, so counts stay below 50 per second of call.
    for (const e of [run.callerEnded, run.calleeEnded]) {
      assert.ok((e.framesSent as number) > 100, JSON.stringify(e));
      assert.ok((e.framesReceived as number) > 100, JSON.stringify(e));
      assert.ok((e.durationS as number) >= 5.5);
    }

    const bobHeard = readWav(join(dir, 'clean-bob-heard.wav')).samples;
    const toneStart = bobHeard.findIndex((x) => Math.abs(x) > 3000);
    assert.ok(toneStart >= 0, 'Bob heard something');
    const toneBody = bobHeard.subarray(toneStart + 4800, toneStart + 4800 + 48_000 * 2);
    assert.ok(Math.abs(dominantFrequency(toneBody, 48_000) - 440) < 3, 'Bob heard the 440 Hz tone');
    assert.ok(rmsDbfs(toneBody) > -12, `tone level ${rmsDbfs(toneBody)}`);

    const aliceHeard = readWav(join(dir, 'clean-alice-heard.wav')).samples;
    const match = alignedCorrelation(phrase, aliceHeard, 48_000, { maxDelayMs: 3000 });
    assert.ok(match, 'the phrase was found in what Alice heard');
    assert.ok(match.score > 0.6, `correlation with the spoken phrase ${match.score}`);
  });

  describe('through the impairment hop', () => {
    let hop: ImpairmentHop;
    let hopRelay: RunningRelay;

    /**
     * A relay whose clients are told to send media to the hop, which forwards it (impaired on the
     * way up) to the relay's real UDP port, one upstream socket per client so that the relay sees
     * two distinct parties.
     */
    async function impairedRelay(
      up: Record<string, unknown>,
    ): Promise<{ relay: RunningRelay; hop: ImpairmentHop }> {
      const stunPort = await freeUdpPort();
      const h = await startImpairmentHop({
        listen: { host: '127.0.0.1', port: 0 },
        target: { host: '127.0.0.1', port: stunPort },
        up,
        multiClient: true,
        seed: 20261125,
      });
      const r = await startRelay({
        stunPort,
        extraArgs: ['--announce-stun', `127.0.0.1:${h.listen.port}`],
      });
      return { relay: r, hop: h };
    }

    test('10 % random loss: FEC keeps concealment at or under 1 % of frames', async () => {
      ({ relay: hopRelay, hop } = await impairedRelay({ lossPct: 10 }));
      try {
        const tone = sineTone({ freq: 523, durationMs: 16_000, amplitude: 0.4 });
        const wav = join(dir, 'tone523.wav');
        writeWav(wav, tone);
        const run = await runCall(hopRelay, {
          seconds: 15,
          callerWav: wav,
          calleeWav: wav,
          tag: 'loss',
        });
        const st = hop.stats();
        assert.equal(st.clients, 2, 'both parties went through the hop');
        const dropPct = (100 * st.up.dropped) / st.up.packets;
        assert.ok(
          dropPct > 7 && dropPct < 13,
          `the hop dropped about 10 %: ${JSON.stringify(st.up)}`,
        );
        for (const e of [run.callerEnded, run.calleeEnded]) {
          const frames = (e.durationS as number) * 50;
          const concealedPct = (100 * (e.framesConcealed as number)) / frames;
          assert.ok(
            concealedPct <= 1,
            `concealed ${concealedPct.toFixed(2)} % (${JSON.stringify(e)})`,
          );
        }
        for (const p of [run.caller, run.callee]) {
          const loss = p.events.filter((e) => e.event === 'stats').map((e) => e.lossPct as number);
          assert.ok(Math.max(...loss) >= 5, `the loss was measured: ${loss.join(',')}`);
          assert.ok((lastStats(p).framesRecovered ?? 0) > 0, 'redundancy recovered frames');
        }
      } finally {
        await hopRelay.stop();
        await hop.close();
      }
    });

    test('30 ms jitter: fewer than 1 % of frames arrive too late to play', async () => {
      ({ relay: hopRelay, hop } = await impairedRelay({ jitterMs: 30 }));
      try {
        const tone = sineTone({ freq: 660, durationMs: 13_000, amplitude: 0.4 });
        const wav = join(dir, 'tone660.wav');
        writeWav(wav, tone);
        const run = await runCall(hopRelay, {
          seconds: 12,
          callerWav: wav,
          calleeWav: wav,
          tag: 'jitter',
        });
        for (const [p, e] of [
          [run.caller, run.callerEnded],
          [run.callee, run.calleeEnded],
        ] as const) {
          const frames = (e.durationS as number) * 50;
          const late = lastStats(p).framesLate ?? Number.NaN;
          assert.ok((100 * late) / frames < 1, `late ${late} of ${frames}`);
          const heard = readWav(
            join(dir, `jitter-${p === run.caller ? 'alice' : 'bob'}-heard.wav`),
          ).samples;
          assert.ok(
            Math.abs(dominantFrequency(heard.subarray(96_000, 96_000 * 3), 48_000) - 660) < 3,
          );
        }
      } finally {
        await hopRelay.stop();
        await hop.close();
      }
    });
  });
});
