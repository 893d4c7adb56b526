// A real `wzp relay` process and real clients over loopback: registration (and forgery), presence,
// call signaling, relayed media, isolation of a third party, STUN, and a relay restart.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { QuicEndpoint } from '../../src-main/engine/transport/endpoint.ts';
import { StunClient } from '../../src-main/engine/nat/stun-client.ts';
import {
  parseRelayToClient,
  type ClientToRelay,
  type RelayToClient,
} from '../../src-shared/relay-protocol.ts';
import type { CallSignal } from '../../src-shared/call-signals.ts';
import { mediaSocket, relayedMediaBothWays } from '../support/relay-media.ts';
import {
  nextLinkEvent,
  startClient,
  startRelay,
  type RunningRelay,
  type TestClient,
} from '../support/relay-harness.ts';

let relay: RunningRelay;
const clients: TestClient[] = [];
async function client(opts: Parameters<typeof startClient>[1] = {}): Promise<TestClient> {
  const c = await startClient(relay, opts);
  clients.push(c);
  return c;
}

before(async () => {
  relay = await startRelay();
});
after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await relay.stop();
});

describe('wzp relay', () => {
  test('prints its identity and addresses on the first JSON line', () => {
    const first = relay.proc.events[0];
    assert.equal(first?.event, 'listening');
    assert.match(String(first?.quic), /^127\.0\.0\.1:\d+$/);
    assert.match(String(first?.stun), /^127\.0\.0\.1:\d+$/);
    assert.match(String(first?.fingerprint), /^wzp1/);
  });

  test('registration by signed challenge; a forged signature is refused', async () => {
    const alice = await client();
    assert.equal(alice.link.state, 'registered');
    assert.equal(alice.link.registration?.relay, relay.fingerprint);
    assert.deepEqual(alice.link.registration?.stun, relay.stun);

    // A client that answers the challenge with someone else's signature.
    const forger = Identity.generate();
    const victim = Identity.generate();
    const ep = await QuicEndpoint.create<unknown, unknown>({
      identity: forger,
      host: '127.0.0.1',
      parseAcceptedSignal: () => null,
    });
    try {
      const conn = await ep.dial<RelayToClient, ClientToRelay>({
        host: relay.quic.host,
        port: relay.quic.port,
        expect: { fingerprint: relay.fingerprint },
        parseSignal: parseRelayToClient,
      });
      const got: RelayToClient[] = [];
      conn.on('signal', (m) => {
        got.push(m);
        if (m.t === 'challenge') {
          const sig = victim.sign(new TextEncoder().encode(m.nonce));
          void conn.sendSignal({
            t: 'register',
            signature: Buffer.from(sig).toString('base64url'),
          });
        }
      });
      conn.startDelivery();
      const closed = await conn.closed;
      assert.ok(
        got.some((m) => m.t === 'error' && m.code === 'bad-signature'),
        JSON.stringify(got),
      );
      assert.ok(!got.some((m) => m.t === 'registered'));
      assert.match(closed.reason, /signature/);
    } finally {
      await ep.close();
    }
    const m = await relay.health();
    assert.ok(((m.drops as Record<string, number>)['bad-signature'] ?? 0) >= 1);
  });

  test('unregistered connections can do nothing and are closed after the deadline', async () => {
    const lurker = await client({ register: false });
    const ep = lurker.endpoint;
    const conn = await ep.dial<RelayToClient, ClientToRelay>({
      host: relay.quic.host,
      port: relay.quic.port,
      expect: { fingerprint: relay.fingerprint },
      parseSignal: parseRelayToClient,
    });
    const got: RelayToClient[] = [];
    conn.on('signal', (m) => got.push(m));
    conn.startDelivery();
    const bob = await client();
    await conn.sendSignal({ t: 'subscribe', fingerprints: [bob.identity.fingerprint] });
    await conn.sendSignal({
      t: 'signal',
      to: bob.identity.fingerprint,
      callId: newCallId(),
      signal: { kind: 'invite', direct: false },
    });
    const closed = await conn.closed;
    assert.match(closed.reason, /registration timeout/);
    assert.ok(!got.some((m) => m.t === 'presence' || m.t === 'call-error'));
    const m = await relay.health();
    assert.ok(((m.drops as Record<string, number>).unregistered ?? 0) >= 2);
  });

  test('presence: subscribers learn when a contact comes online and goes offline', async () => {
    const watcher = await client();
    const contact = Identity.generate();
    const stranger = Identity.generate();
    const initial = nextLinkEvent(
      watcher.link,
      'presence',
      (p) => p.fingerprint === contact.fingerprint,
    );
    await watcher.link.subscribe([contact.fingerprint]);
    assert.equal((await initial).online, false);
    const online = nextLinkEvent(
      watcher.link,
      'presence',
      (p) => p.fingerprint === contact.fingerprint && p.online,
    );
    const c = await client({ identity: contact });
    await online;
    // Someone not named in the subscription is never announced.
    const strangerEvents: unknown[] = [];
    watcher.link.on(
      'presence',
      (p) => p.fingerprint === stranger.fingerprint && strangerEvents.push(p),
    );
    const s = await client({ identity: stranger });
    const offline = nextLinkEvent(
      watcher.link,
      'presence',
      (p) => p.fingerprint === contact.fingerprint && !p.online,
    );
    await c.close();
    await offline;
    await s.close();
    assert.deepEqual(strangerEvents, []);
  });

  test('invite, accept, relayed media both ways, isolation from a third party, hang-up', async () => {
    const alice = await client();
    const bob = await client();
    const eve = await client();
    const callId = newCallId();

    const invited = nextLinkEvent(bob.link, 'signal', (s) => s.callId === callId);
    await alice.link.sendSignal(bob.identity.fingerprint, callId, {
      kind: 'invite',
      direct: false,
    });
    const inv = await invited;
    assert.equal(inv.from, alice.identity.fingerprint);
    assert.deepEqual(inv.signal, { kind: 'invite', direct: false });

    // Eve cannot speak in the call, in either party's name or her own.
    const eveError = nextLinkEvent(eve.link, 'call-error', (e) => e.callId === callId);
    await eve.link.sendSignal(alice.identity.fingerprint, callId, {
      kind: 'hangup',
      reason: 'normal',
    });
    assert.equal((await eveError).reason, 'not-a-party');

    const ringing = nextLinkEvent(
      alice.link,
      'signal',
      (s) => s.callId === callId && s.signal.kind === 'ringing',
    );
    await bob.link.sendSignal(alice.identity.fingerprint, callId, { kind: 'ringing' });
    await ringing;

    const grantA = nextLinkEvent(alice.link, 'media-grant', (g) => g.callId === callId);
    const grantB = nextLinkEvent(bob.link, 'media-grant', (g) => g.callId === callId);
    const accepted = nextLinkEvent(
      alice.link,
      'signal',
      (s) => s.callId === callId && s.signal.kind === 'accept',
    );
    await bob.link.sendSignal(alice.identity.fingerprint, callId, {
      kind: 'accept',
      direct: false,
    });
    await accepted;
    const [ga, gb] = await Promise.all([grantA, grantB]);
    assert.notEqual(ga.channelId, gb.channelId);
    assert.deepEqual(ga.media, relay.stun);

    await relayedMediaBothWays(ga, gb, () => relay.health());

    const hungUp = nextLinkEvent(
      bob.link,
      'signal',
      (s) => s.callId === callId && s.signal.kind === 'hangup',
    );
    await alice.link.sendSignal(bob.identity.fingerprint, callId, {
      kind: 'hangup',
      reason: 'normal',
    });
    assert.deepEqual((await hungUp).signal, { kind: 'hangup', reason: 'normal' });
    // After hang-up the call is gone at the relay.
    const gone = nextLinkEvent(alice.link, 'call-error', (e) => e.callId === callId);
    await alice.link.sendSignal(bob.identity.fingerprint, callId, { kind: 'ringing' });
    assert.equal((await gone).reason, 'unknown-call');
  });

  test('calls to offline identities, to oneself, and duplicate call ids are refused', async () => {
    const alice = await client();
    const bob = await client();
    const cases: [string, () => Promise<void>, string][] = [];
    const offlineId = newCallId();
    cases.push([
      offlineId,
      () =>
        alice.link.sendSignal(Identity.generate().fingerprint, offlineId, {
          kind: 'invite',
          direct: true,
        }),
      'offline',
    ]);
    const selfId = newCallId();
    cases.push([
      selfId,
      () =>
        alice.link.sendSignal(alice.identity.fingerprint, selfId, { kind: 'invite', direct: true }),
      'self-call',
    ]);
    for (const [id, send, reason] of cases) {
      const err = nextLinkEvent(alice.link, 'call-error', (e) => e.callId === id);
      await send();
      assert.equal((await err).reason, reason);
    }
    const dup = newCallId();
    await alice.link.sendSignal(bob.identity.fingerprint, dup, { kind: 'invite', direct: true });
    const err = nextLinkEvent(bob.link, 'call-error', (e) => e.callId === dup);
    await bob.link.sendSignal(alice.identity.fingerprint, dup, { kind: 'invite', direct: true });
    assert.equal((await err).reason, 'duplicate-call');
  });

  test('a party that disconnects ends the call for the other with remote-gone', async () => {
    const alice = await client();
    const bob = await client();
    const callId = newCallId();
    const invited = nextLinkEvent(bob.link, 'signal', (s) => s.callId === callId);
    await alice.link.sendSignal(bob.identity.fingerprint, callId, {
      kind: 'invite',
      direct: false,
    });
    await invited;
    const gone = nextLinkEvent(
      alice.link,
      'signal',
      (s) => s.callId === callId && s.signal.kind === 'hangup',
    );
    await bob.close();
    assert.deepEqual((await gone).signal, { kind: 'hangup', reason: 'remote-gone' });
  });

  test('STUN Binding requests on the relay are answered with the mapped address', async () => {
    const sock = await mediaSocket();
    try {
      const stun = new StunClient({
        send: (buf, port, host) => sock.send(buf, port, host),
      });
      sock.on('message', (msg, rinfo) => stun.handle(msg, rinfo));
      const r = await stun.bind(relay.stun);
      assert.equal(r.address, '127.0.0.1');
      assert.equal(r.port, sock.address().port);
      stun.close();
    } finally {
      sock.close();
    }
  });
});

describe('RelayLink across a relay restart', () => {
  test('reconnects with backoff and registers again; presence resumes', async () => {
    const first = await startRelay();
    const port = first.quic.port;
    const stunPort = first.stun.port;
    const a = await startClient(first);
    const b = await startClient(first);
    try {
      await a.link.subscribe([b.identity.fingerprint]);
      const down = nextLinkEvent(a.link, 'disconnected');
      await first.proc.stop('SIGTERM');
      const d = await down;
      assert.equal(d.willRetry, true);
      assert.match(d.reason, /shutting down|closed/);
      const again = nextLinkEvent(a.link, 'registered', () => true, 20000);
      const bOnline = nextLinkEvent(
        a.link,
        'presence',
        (p) => p.fingerprint === b.identity.fingerprint && p.online,
        20000,
      );
      const second = await startRelay({ identityFile: first.identityFile, port, stunPort });
      try {
        await again;
        await bOnline;
        assert.equal(a.link.state, 'registered');
        const callId = newCallId();
        const invited = nextLinkEvent(b.link, 'signal', (s) => s.callId === callId);
        await a.link.sendSignal(b.identity.fingerprint, callId, {
          kind: 'invite',
          direct: true,
        } satisfies CallSignal);
        await invited;
      } finally {
        await a.close();
        await b.close();
        await second.stop();
      }
    } finally {
      await first.stop();
    }
  });

  test('a relay that shows another identity at the pinned address is refused', async () => {
    const r1 = await startRelay();
    const ep = await QuicEndpoint.create<unknown, unknown>({
      identity: Identity.generate(),
      host: '127.0.0.1',
      parseAcceptedSignal: () => null,
    });
    const { RelayLink } = await import('../../src-main/engine/signaling/relay-link.ts');
    const link = new RelayLink({
      endpoint: ep,
      relay: r1.quic,
      trust: { fingerprint: Identity.generate().fingerprint },
    });
    try {
      await assert.rejects(link.start(), /possible interception/);
      assert.equal(link.state, 'stopped');
    } finally {
      await ep.close();
      await r1.stop();
    }
  });
});
