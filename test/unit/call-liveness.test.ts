// Call liveness wired into a real Call: two Calls in one process, their signals and media
// packets carried by hand (real keys, real codec, a fake "network" we can cut). A call whose host
// feeds no audio stays live on keep-alives alone; a cut network makes both sides say
// "reconnecting" and then end as connection-lost; a network back in time recovers the call; the
// relay's remote-gone is ignored while the peer's media still arrives, honoured once it does not;
// stats of a silent peer carry no round trip. Timings are shortened through CallContext.liveness.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { Call, newCallId } from '../../src-main/engine/call/call.ts';
import type { MediaTransport } from '../../src-main/engine/call/media-transport.ts';
import type { CallEndInfo } from '../../src-main/engine/call/softphone-api.ts';
import type { CallSignal } from '../../src-shared/call-signals.ts';

const LIVENESS = { reconnectAfterMs: 600, giveUpAfterMs: 1800, keepaliveMs: 150 };

class Network {
  cut = false;
  /** Signals between the two (the relay's control plane); it may stay up while media is cut. */
  signalsCut = false;
}

class FakeTransport implements MediaTransport {
  readonly kind = 'relay' as const;
  sent = 0;
  constructor(
    private readonly net: Network,
    private readonly to: () => Call,
  ) {}
  send(packet: Uint8Array): void {
    this.sent++;
    if (this.net.cut) return;
    setImmediate(() => this.to().receivePacket(packet));
  }
  rttMs(): number | null {
    return 4;
  }
  close(): void {}
}

async function connectedPair(): Promise<{
  a: Call;
  b: Call;
  net: Network;
  transports: FakeTransport[];
}> {
  const ida = Identity.generate();
  const idb = Identity.generate();
  const id = newCallId();
  const net = new Network();
  let a: Call | null = null;
  let b: Call | null = null;
  const deliver = (to: () => Call | null) => async (s: CallSignal) => {
    if (net.signalsCut) throw new Error('relay link down');
    setImmediate(() => void to()?.onSignal(s));
  };
  const ctx = (identity: Identity, peer: Identity, to: () => Call | null) => ({
    identity,
    localIsTieWinner: identity.fingerprint < peer.fingerprint,
    directCalls: () => false,
    signal: deliver(to),
    ringTimeoutMs: 30_000,
    liveness: LIVENESS,
  });
  a = new Call({ id, peer: idb.fingerprint, direction: 'outgoing', ctx: ctx(ida, idb, () => b) });
  b = new Call({ id, peer: ida.fingerprint, direction: 'incoming', ctx: ctx(idb, ida, () => a) });
  const ca = a;
  const cb = b;
  const connected = Promise.all(
    [ca, cb].map((c) => new Promise<void>((r) => c.on('state', (s) => s === 'connected' && r()))),
  );
  await ca.start({ direct: false });
  await cb.answer();
  await connected;
  const transports = [new FakeTransport(net, () => cb), new FakeTransport(net, () => ca)];
  ca.attachPath(transports[0] as FakeTransport, 'test');
  cb.attachPath(transports[1] as FakeTransport, 'test');
  return { a: ca, b: cb, net, transports };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ended = (c: Call) => new Promise<CallEndInfo>((r) => c.on('ended', r));

function livenessLog(c: Call): string[] {
  const log: string[] = [];
  c.on('liveness', (l) => log.push(l.state));
  c.on('ended', (e) => log.push(`ended:${e.reason}`));
  return log;
}

describe('call liveness in a Call', () => {
  test('keep-alives alone keep a call without audio live; a cut network: reconnecting, then connection-lost on both sides', async () => {
    const { a, b, net, transports } = await connectedPair();
    const logs = [livenessLog(a), livenessLog(b)];
    // No audio fed at all (a host with no microphone): three times the reconnect threshold.
    await sleep(LIVENESS.reconnectAfterMs * 3);
    assert.deepEqual(logs, [[], []], 'no alarm while only keep-alives flow');
    assert.ok(
      transports.every((t) => t.sent > 0),
      'keep-alives went out',
    );
    assert.equal(a.stats().liveness, 'live');
    net.cut = true;
    const ends = await Promise.all([ended(a), ended(b)]);
    for (const [i, log] of logs.entries()) {
      assert.deepEqual(log, ['reconnecting', 'ended:connection-lost'], `side ${i}`);
      assert.match(ends[i]?.detail ?? '', /nothing from the peer/);
    }
  });

  test('a network back before the give-up recovers the call, and stats of the silent spell say so', async () => {
    const { a, b, net } = await connectedPair();
    const logs = [livenessLog(a), livenessLog(b)];
    net.cut = true;
    await new Promise<void>((r) => a.on('liveness', (l) => l.state === 'reconnecting' && r()));
    const stale = a.stats();
    assert.equal(stale.liveness, 'reconnecting');
    assert.equal(stale.rttMs, null, 'no round trip shown for a silent peer');
    assert.equal(stale.jitterMs, null);
    assert.ok(stale.silentMs >= LIVENESS.reconnectAfterMs);
    net.cut = false;
    await Promise.all(
      [a, b].map(
        (c) => new Promise<void>((r) => c.on('liveness', (l) => l.state === 'live' && r())),
      ),
    );
    assert.equal(a.state, 'connected');
    assert.equal(a.stats().liveness, 'live');
    assert.notEqual(a.stats().rttMs, null);
    await a.hangup();
    await sleep(50);
    assert.deepEqual(logs[0], ['reconnecting', 'live', 'ended:hangup-local']);
    assert.deepEqual(logs[1], ['reconnecting', 'live', 'ended:hangup-remote']);
  });

  test("the relay's remote-gone is ignored while the peer's media arrives, honoured once it does not", async () => {
    const { a, b, net } = await connectedPair();
    await sleep(300);
    await b.onSignal({ kind: 'hangup', reason: 'remote-gone' });
    await a.onSignal({ kind: 'hangup', reason: 'remote-gone' });
    assert.equal(a.state, 'connected', 'the peer is heard: the relay guessed wrong');
    assert.equal(a.remoteGoneIgnored, 1);
    assert.equal(b.state, 'connected');
    net.cut = true;
    await sleep(1100);
    await a.onSignal({ kind: 'hangup', reason: 'remote-gone' });
    assert.equal(a.state, 'ended');
    assert.equal(a.endInfo?.reason, 'connection-lost', 'we hear nothing either');
    await b.hangup();
  });

  test('a hang-up whose signal cannot leave still ends the local call at once', async () => {
    const { a, b, net } = await connectedPair();
    net.signalsCut = true;
    net.cut = true;
    const bEnded = ended(b);
    await a.hangup();
    assert.equal(a.state, 'ended');
    assert.equal(a.endInfo?.reason, 'hangup-local');
    // The far end hears nothing more and gives up on its own.
    assert.equal((await bEnded).reason, 'connection-lost');
  });
});
