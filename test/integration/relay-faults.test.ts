// Faults on the relay's side mid-call, against a real `wzp relay` process and the clients'
// RelayLinks: the relay killed with SIGKILL while a relayed call's media flows, then restarted
// on the same identity and ports with none of its state. The clients register again by
// themselves; the call comes back only when both parties name it (a third identity naming one
// of them gets nothing), with fresh grants, and the grants from before the crash are dead.
// (What the call engine and the CLI do when their relay dies, the liveness part, is
// call-liveness.test.ts; a relay of a cluster dying is relay-cluster.test.ts.)
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { RelayMediaChannel } from '../../src-main/engine/transport/relay-media-frame.ts';
import { mediaSocket, relayedMediaBothWays } from '../support/relay-media.ts';
import {
  nextLinkEvent,
  startClient,
  startRelay,
  type RunningRelay,
  type TestClient,
} from '../support/relay-harness.ts';

describe('the relay killed mid-call and restarted', () => {
  const running: { relay?: RunningRelay; clients: TestClient[] } = { clients: [] };
  after(async () => {
    await Promise.all(running.clients.map((c) => c.close()));
    await running.relay?.stop();
  });

  test('clients register again by themselves; the call resumes when both name it, with fresh grants; old grants are dead', async () => {
    const first = await startRelay();
    running.relay = first;
    const alice = await startClient(first);
    const bob = await startClient(first);
    running.clients.push(alice, bob);
    const callId = newCallId();
    const grants = Promise.all([
      nextLinkEvent(alice.link, 'media-grant', (g) => g.callId === callId),
      nextLinkEvent(bob.link, 'media-grant', (g) => g.callId === callId),
    ]);
    await alice.link.sendSignal(bob.identity.fingerprint, callId, {
      kind: 'invite',
      direct: false,
    });
    await nextLinkEvent(bob.link, 'signal', (s) => s.callId === callId);
    await bob.link.sendSignal(alice.identity.fingerprint, callId, {
      kind: 'accept',
      direct: false,
    });
    const [oldA, oldB] = await grants;
    await relayedMediaBothWays(oldA, oldB, () => first.health());

    // SIGKILL: no shutdown message, no goodbye; then the same relay again, with no state.
    await first.proc.stop('SIGKILL');
    const reRegistered = Promise.all(
      [alice, bob].map((c) => nextLinkEvent(c.link, 'registered', () => true, 30_000)),
    );
    const second = await startRelay({
      identityFile: first.identityFile,
      port: first.quic.port,
      stunPort: first.stun.port,
    });
    running.relay = second;
    await reRegistered;

    // Mallory names the call with Alice as her peer: Alice did not name Mallory, nothing happens.
    const mallory = await startClient(second);
    running.clients.push(mallory);
    let malloryGranted = false;
    mallory.link.on('media-grant', () => void (malloryGranted = true));
    await mallory.link.resume([{ callId, peer: alice.identity.fingerprint }]);

    const fresh = Promise.all([
      nextLinkEvent(alice.link, 'media-grant', (g) => g.callId === callId),
      nextLinkEvent(bob.link, 'media-grant', (g) => g.callId === callId),
    ]);
    await alice.link.resume([{ callId, peer: bob.identity.fingerprint }]);
    // Alice alone is not enough either.
    await sleep(300);
    assert.equal((await second.health()).calls, 0, 'a call resumed on one party’s word');
    await bob.link.resume([{ callId, peer: alice.identity.fingerprint }]);
    const [ga, gb] = await fresh;
    assert.equal(malloryGranted, false, 'mallory was granted media in a call she is not in');
    assert.notDeepEqual(Buffer.from(ga.key), Buffer.from(oldA.key));
    await relayedMediaBothWays(ga, gb, () => second.health());
    assert.equal((await second.health()).callsResumed, 1);

    // The grants from before the crash carry nothing through the new relay.
    const s = await mediaSocket();
    const r = await mediaSocket();
    try {
      const old = new RelayMediaChannel(oldA.channelId, oldA.key);
      const cb = new RelayMediaChannel(gb.channelId, gb.key);
      let got = 0;
      r.on('message', (m) => {
        if (cb.receive(m).kind === 'data') got++;
      });
      for (let i = 0; i < 3; i++) r.send(cb.encodeBind(), gb.media.port, gb.media.host);
      await sleep(100);
      for (let i = 0; i < 20; i++)
        s.send(old.encodeData(Buffer.from(`old ${i}`)), oldA.media.port, oldA.media.host);
      await sleep(300);
      assert.equal(got, 0, 'frames under a grant from before the crash were forwarded');
    } finally {
      s.close();
      r.close();
    }
  });
});
