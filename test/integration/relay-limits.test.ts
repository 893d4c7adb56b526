// The relay's control plane under abuse by clients that hold valid identities: each limit is
// exercised against a real `wzp relay` process, and each test checks a bound (the abuser is cut
// off or capped, the relay's memory stays bounded, others are still served), never a timing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeBindingRequest } from '../../src-main/engine/nat/stun-message.ts';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { encodeFrame } from '../../src-main/engine/transport/signal-framing.ts';
import { hostileClient } from '../support/hostile-quic.ts';
import { rssBytes } from '../support/proc-stats.ts';
import {
  assertRelayServes,
  nextLinkEvent,
  startClient,
  startRelay,
  startRelayWithPair,
  stopRelayWithPair,
  type RunningRelay,
  type TestClient,
} from '../support/relay-harness.ts';

const MB = 1024 * 1024;
let relay: RunningRelay;
let alice: TestClient;
let bob: TestClient;
before(async () => ({ relay, alice, bob } = await startRelayWithPair()));
after(() => stopRelayWithPair({ relay, alice, bob }));

const fp = () => Identity.generate().fingerprint;
const isCallError = (m: unknown) =>
  typeof m === 'object' && m !== null && (m as { t?: unknown }).t === 'call-error';
/** `p`, or a failure naming what did not happen within `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([
    p,
    sleep(ms, null, { ref: false }).then(() => {
      throw new Error(`timed out waiting for ${what}`);
    }),
  ]);
}
const relayPid = () => relay.proc.child.pid as number;

describe('relay limits per connection', () => {
  test('a registered client that stops reading is disconnected; the relay stays small', async () => {
    const rss0 = rssBytes(relayPid());
    const h = await hostileClient(Identity.generate(), relay.quic.host, relay.quic.port, {
      receiveWindowBytes: 16 * 1024,
    });
    try {
      await h.register();
      h.stopReading();
      // Subscriptions of 1,000 fingerprints (65 kB) every 2.5 s, within the signal rate cap and
      // the inbound byte budget: each asks for presence replies that this client never takes.
      const fps = Array.from({ length: 1000 }, fp);
      let peak = rss0;
      const giveUpAt = Date.now() + 40_000;
      let next = 0;
      while (!h.isClosed() && Date.now() < giveUpAt) {
        if (Date.now() >= next) {
          void h.json({ t: 'subscribe', fingerprints: fps }).catch(() => undefined);
          next = Date.now() + 2500;
        }
        peak = Math.max(peak, rssBytes(relayPid()));
        await sleep(50);
      }
      assert.ok(h.isClosed(), 'the relay still holds a client that reads nothing');
      assert.match(h.closeReason() ?? '', /not reading/);
      assert.ok(peak - rss0 < 100 * MB, `relay grew by ${((peak - rss0) / MB).toFixed(0)} MB`);
    } finally {
      await h.destroy();
    }
    await assertRelayServes(relay, alice, bob);
  });

  test('a subscription of 1,000 fingerprints is answered in a few batched replies', async () => {
    const h = await hostileClient(Identity.generate(), relay.quic.host, relay.quic.port);
    try {
      await h.register();
      const others = Array.from({ length: 998 }, fp);
      const fps = [alice.identity.fingerprint, ...others, bob.identity.fingerprint];
      const before = h.received.length;
      await h.json({ t: 'subscribe', fingerprints: fps });
      const seen = new Map<string, boolean>();
      const replies: unknown[] = [];
      await h.waitFor((m) => {
        if (m.t !== 'presence') return false;
        replies.push(m);
        for (const f of m.online as string[]) seen.set(f, true);
        for (const f of m.offline as string[]) seen.set(f, false);
        return seen.size === fps.length;
      });
      assert.ok(replies.length <= 4, `${replies.length} presence replies`);
      assert.equal(h.received.length - before, replies.length);
      assert.equal(seen.get(alice.identity.fingerprint), true);
      assert.equal(seen.get(bob.identity.fingerprint), true);
      assert.equal([...seen.values()].filter(Boolean).length, 2);
    } finally {
      await h.destroy();
    }
  });

  test('valid frames count against the budget: a flood of them is slowed, then cut off', async () => {
    const before = await relay.health();
    const h = await hostileClient(Identity.generate(), relay.quic.host, relay.quic.port);
    try {
      await h.register();
      // Well-formed, schema-valid signals padded with JSON whitespace to 60 kB each.
      const frame = JSON.stringify({
        t: 'signal',
        to: bob.identity.fingerprint,
        callId: newCallId(),
        signal: { kind: 'ringing' },
      });
      const padded = JSON.parse(JSON.stringify(frame + ' '.repeat(60_000))) as string;
      const giveUpAt = Date.now() + 40_000;
      let sent = 0;
      void (async () => {
        const bytes = encodeFrame(new TextEncoder().encode(padded));
        while (!h.isClosed() && Date.now() < giveUpAt) {
          if (
            !(await h.write(bytes).then(
              () => true,
              () => false,
            ))
          )
            break;
          sent++;
        }
      })();
      // Meanwhile others register and call as usual.
      const carol = await startClient(relay);
      await assertRelayServes(relay, alice, carol);
      await carol.close();
      while (!h.isClosed() && Date.now() < giveUpAt) await sleep(100);
      assert.ok(h.isClosed(), `a flooder sending ${sent} frames was never cut off`);
      assert.match(h.closeReason() ?? '', /budget/);
    } finally {
      await h.destroy();
    }
    const after = await relay.health();
    assert.ok((after.inboundThrottles as number) > (before.inboundThrottles as number));
    await assertRelayServes(relay, alice, bob);
  });
});

describe('relay STUN', () => {
  test('answers are rate-limited per source and no larger than 1.6 times the request', async () => {
    const req = encodeBindingRequest(randomBytes(12));
    const sources = await Promise.all(
      ['127.0.0.1', '127.0.0.2'].map(async (host) => {
        const sock = dgram.createSocket('udp4');
        await new Promise<void>((r) => sock.bind(0, host, r));
        const answers: Buffer[] = [];
        sock.on('message', (m) => answers.push(m));
        return { sock, answers };
      }),
    );
    try {
      const started = performance.now();
      for (let i = 0; i < 300; i++) {
        for (const { sock } of sources) sock.send(req, relay.stun.port, relay.stun.host);
        if (i % 50 === 49) await sleep(5);
      }
      await sleep(300);
      const seconds = (performance.now() - started) / 1000;
      for (const { answers } of sources) {
        // 40 at once and 20/s after that, for each source on its own.
        assert.ok(answers.length >= 20, `${answers.length} answers`);
        assert.ok(answers.length <= 40 + 20 * seconds + 1, `${answers.length} in ${seconds} s`);
        for (const a of answers) assert.ok(a.length <= 1.6 * req.length, `${a.length} bytes`);
      }
      const stun = (await relay.health()).stun as { dropped: Record<string, number> };
      // Loopback drops part of such a burst; of what arrived, most was refused.
      assert.ok((stun.dropped.rateLimited ?? 0) >= 100, JSON.stringify(stun.dropped));
    } finally {
      for (const { sock } of sources) sock.close();
    }
  });
});

describe('relay limits per identity and address', () => {
  // A relay with small limits, so that each is reached with a handful of connections.
  let tight: RunningRelay;
  before(async () => {
    tight = await startRelay({
      extraArgs: [
        '--max-clients',
        '3',
        '--max-unregistered-per-address',
        '4',
        '--call-idle-timeout',
        '2',
        '--registration-timeout',
        '4',
        '--signal-rate',
        '0.5',
        '--signal-burst',
        '20',
      ],
    });
  });
  after(async () => {
    await tight.stop();
  });

  test('rate state belongs to the identity: reconnecting does not refill it', async () => {
    const mallory = Identity.generate();
    const rateLimited = async () =>
      ((await tight.health()).drops as Record<string, number>)['rate-limited'] ?? 0;
    const burst = async () => {
      const h = await hostileClient(mallory, tight.quic.host, tight.quic.port);
      await h.register();
      for (let i = 0; i < 40; i++) {
        await h.json({
          t: 'signal',
          to: fp(),
          callId: newCallId(),
          signal: { kind: 'ringing' },
        });
      }
      // Every one of them is answered (call-error), so all have been handled once 40 arrived.
      await h.waitFor(() => h.received.filter((m) => isCallError(m)).length >= 40);
      await h.destroy();
    };
    const r0 = await rateLimited();
    await burst();
    const r1 = await rateLimited();
    // The burst is 20 and the bucket refills at 0.5/s: a fresh bucket would let 20 of 40 through.
    assert.ok(r1 - r0 >= 15, `first burst: ${r1 - r0} rate-limited`);
    await burst();
    const r2 = await rateLimited();
    assert.ok(r2 - r1 >= 30, `after reconnecting, only ${r2 - r1} of 40 were rate-limited`);
  });

  test('unregistered connections: outside --max-clients, capped per address, closed at the deadline', async () => {
    const members = [await startClient(tight), await startClient(tight), await startClient(tight)];
    const lurkers = await Promise.all(
      Array.from({ length: 8 }, () =>
        hostileClient(Identity.generate(), tight.quic.host, tight.quic.port),
      ),
    );
    try {
      for (const l of lurkers) void l.json({ $wzp: 'hello', v: 1 }).catch(() => undefined);
      // Four are admitted although the relay holds --max-clients registered clients: they are
      // challenged. The other four from the same address are refused at once.
      const challenged = await Promise.all(
        lurkers.map((l) =>
          Promise.race([
            l.waitFor((m) => m.t === 'challenge', 5000).then(() => true),
            l.closed.then(() => false),
          ]),
        ),
      );
      assert.equal(challenged.filter(Boolean).length, 4, JSON.stringify(challenged));
      for (const [i, l] of lurkers.entries()) {
        if (challenged[i]) continue;
        await within(l.closed, 5000, 'a refused connection to close');
        assert.equal(l.closeReason(), 'too many connections');
      }
      // Registering would make a fourth client: refused.
      const first = lurkers[challenged.indexOf(true)];
      assert.ok(first);
      void first.register().catch(() => undefined);
      await first.waitFor((m) => m.t === 'error' && m.code === 'relay-full', 15_000);
      // The rest never register and are closed at the registration deadline.
      for (const [i, l] of lurkers.entries())
        if (challenged[i]) await within(l.closed, 10_000, 'the registration deadline');
      assert.ok(
        lurkers.some((l) => /registration timeout/.test(l.closeReason() ?? '')),
        lurkers.map((l) => l.closeReason()).join(', '),
      );
      // The relay forgets them as its side of each connection finishes closing.
      const admissions = async () =>
        (await tight.health()).refusedAdmissions as Record<string, number>;
      let adm = await admissions();
      for (let i = 0; i < 100 && adm.unregistered !== 0; i++) {
        await sleep(100);
        adm = await admissions();
      }
      assert.equal(adm['address-full'], 4);
      assert.equal(adm.registered, 3);
      assert.equal(adm.unregistered, 0);
      // A registered client leaving frees its place.
      await members.pop()?.close();
      members.push(await startClient(tight));
    } finally {
      await Promise.all(lurkers.map((l) => l.destroy()));
      await Promise.all(members.map((m) => m.close()));
    }
  });

  test('a call in which no media flows is ended; calls per identity are capped', async () => {
    const a = await startClient(tight);
    const b = await startClient(tight);
    try {
      const callId = newCallId();
      const grants = Promise.all([
        nextLinkEvent(a.link, 'media-grant', (g) => g.callId === callId),
        nextLinkEvent(b.link, 'media-grant', (g) => g.callId === callId),
      ]);
      const ended = Promise.all(
        [a, b].map((c) =>
          nextLinkEvent(
            c.link,
            'signal',
            (x) => x.callId === callId && x.signal.kind === 'hangup',
            20_000,
          ),
        ),
      );
      await a.link.sendSignal(b.identity.fingerprint, callId, { kind: 'invite', direct: false });
      await b.link.sendSignal(a.identity.fingerprint, callId, { kind: 'accept', direct: false });
      await grants;
      // Neither side binds or sends media: the relay ends the call and frees its allocations.
      for (const e of await ended)
        assert.deepEqual(e.signal, { kind: 'hangup', reason: 'remote-gone' });
      const h = await tight.health();
      assert.ok((h.idleCallsEnded as number) >= 1);
      assert.equal((h.media as { forwarder: { allocations: number } }).forwarder.allocations, 0);

      const refused = nextLinkEvent(a.link, 'call-error', (e) => e.reason === 'too-many-calls');
      for (let i = 0; i < 9; i++) {
        await a.link.sendSignal(b.identity.fingerprint, newCallId(), {
          kind: 'invite',
          direct: false,
        });
      }
      await refused;
      assert.equal((await tight.health()).calls, 8);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
