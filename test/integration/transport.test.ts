// The QUIC endpoint over real sockets on loopback: mutual TLS pinned to identities, signals and
// media both ways, refusals on either side, hostile frames, and STUN beside QUIC on one socket.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { tlsCredentialsFor } from '../../src-main/engine/identity/certificate.ts';
import { QuicEndpoint } from '../../src-main/engine/transport/endpoint.ts';
import {
  PeerIdentityMismatchError,
  PeerRefusedError,
  SignalTooLargeError,
} from '../../src-main/engine/transport/errors.ts';
import type { PeerConnection } from '../../src-main/engine/transport/peer-connection.ts';
import { encodeFrame } from '../../src-main/engine/transport/signal-framing.ts';
import { hostileClient } from '../support/hostile-quic.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';

type Msg = { t: 'ping' | 'pong'; n: number; pad?: string };
const parse = (j: unknown): Msg | null => {
  if (typeof j !== 'object' || j === null) return null;
  const o = j as Record<string, unknown>;
  if ((o.t !== 'ping' && o.t !== 'pong') || typeof o.n !== 'number') return null;
  return { t: o.t, n: o.n, ...(typeof o.pad === 'string' ? { pad: o.pad } : {}) };
};

const endpoints: QuicEndpoint<Msg>[] = [];
async function endpoint(
  identity: Identity,
  acceptPeer?: (fp: Fingerprint) => boolean,
  extra: { maxSignalBytes?: number } = {},
): Promise<QuicEndpoint<Msg>> {
  const e = await QuicEndpoint.create<Msg>({
    identity,
    host: '127.0.0.1',
    parseAcceptedSignal: parse,
    acceptPeer,
    handshakeTimeoutMs: 3000,
    ...extra,
  });
  endpoints.push(e);
  return e;
}
after(async () => {
  await Promise.all(endpoints.map((e) => e.close()));
});

function nextConnection(e: QuicEndpoint<Msg>): Promise<PeerConnection<Msg>> {
  return new Promise((resolve) => e.once('connection', resolve));
}

function nextOf<T>(subscribe: (h: (v: T) => void) => () => void): Promise<T> {
  return new Promise((resolve) => {
    const off = subscribe((v) => {
      off();
      resolve(v);
    });
  });
}

async function eventually(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('QUIC endpoint with identity-pinned mutual TLS', () => {
  const alice = Identity.generate();
  const bob = Identity.generate();

  test('connects, authenticates both sides, and carries signals and media both ways', async () => {
    const a = await endpoint(alice, (fp) => fp === bob.fingerprint);
    const b = await endpoint(bob);
    const accepted = nextConnection(a);
    const dialed = await b.dial({
      host: '127.0.0.1',
      port: a.address.port,
      expect: { fingerprint: alice.fingerprint },
      parseSignal: parse,
    });
    const inbound = await accepted;
    assert.equal(dialed.peer.fingerprint, alice.fingerprint);
    assert.equal(inbound.peer.fingerprint, bob.fingerprint);
    assert.deepEqual(inbound.peer.publicKey, bob.publicKey);

    const atA = nextOf<Msg>((h) => inbound.on('signal', h));
    inbound.startDelivery();
    await dialed.sendSignal({ t: 'ping', n: 1 });
    assert.deepEqual(await atA, { t: 'ping', n: 1 });
    const atB = nextOf<Msg>((h) => dialed.on('signal', h));
    await inbound.sendSignal({ t: 'pong', n: 2 });
    assert.deepEqual(await atB, { t: 'pong', n: 2 });

    const mediaAtA = nextOf<Uint8Array>((h) => inbound.on('media', h));
    const mediaAtB = nextOf<Uint8Array>((h) => dialed.on('media', h));
    assert.ok(await dialed.sendMedia(new Uint8Array([1, 2, 3])));
    assert.ok(await inbound.sendMedia(new Uint8Array(1000).fill(9)));
    assert.deepEqual(await mediaAtA, new Uint8Array([1, 2, 3]));
    assert.deepEqual(await mediaAtB, new Uint8Array(1000).fill(9));

    await eventually(() => dialed.stats().pongsReceived > 0, 'a ping answer');
    const s = dialed.stats();
    assert.ok(s.rttMs !== null && s.rttMs >= 0);
    assert.ok(s.cwndBytes !== null && s.cwndBytes > 0);

    const closed = inbound.closed;
    await dialed.close('test over');
    const info = await closed;
    assert.equal(info.remote, true);
    assert.match(info.reason, /test over/);
  });

  test('the dialer refuses a peer whose key is not the expected fingerprint', async () => {
    const a = await endpoint(alice, () => true);
    const b = await endpoint(bob);
    const mallory = Identity.generate();
    await assert.rejects(
      b.dial({
        host: '127.0.0.1',
        port: a.address.port,
        expect: { fingerprint: mallory.fingerprint },
        parseSignal: parse,
        timeoutMs: 3000,
      }),
      (e: unknown) =>
        e instanceof PeerIdentityMismatchError &&
        e.expected === mallory.fingerprint &&
        e.actual === alice.fingerprint &&
        e.message.includes(mallory.fingerprint) &&
        e.message.includes(alice.fingerprint),
    );
  });

  test('a certificate from another seed with the same subject is refused', async () => {
    // Every certificate we issue has the same subject, serial and validity: only the key differs.
    const impostor = Identity.generate();
    const [real, fake] = await Promise.all([tlsCredentialsFor(alice), tlsCredentialsFor(impostor)]);
    assert.equal(real.certDer.length, fake.certDer.length);
    const m = await endpoint(impostor, () => true);
    const b = await endpoint(bob);
    await assert.rejects(
      b.dial({
        host: '127.0.0.1',
        port: m.address.port,
        expect: { fingerprint: alice.fingerprint },
        parseSignal: parse,
        timeoutMs: 3000,
      }),
      PeerIdentityMismatchError,
    );
  });

  test('the acceptor refuses an identity it does not expect, and says who it was', async () => {
    const a = await endpoint(alice, (fp) => fp === bob.fingerprint);
    const stranger = Identity.generate();
    const s = await endpoint(stranger);
    const refused = nextOf<{ fingerprint: Fingerprint | null; reason: string }>((h) =>
      a.on('peer-refused', h),
    );
    await assert.rejects(
      s.dial({
        host: '127.0.0.1',
        port: a.address.port,
        expect: { fingerprint: alice.fingerprint },
        parseSignal: parse,
        timeoutMs: 3000,
      }),
      PeerRefusedError,
    );
    const r = await refused;
    assert.equal(r.fingerprint, stranger.fingerprint);
    assert.equal(a.counters.acceptedConnections, 0);
  });

  test('trust on first use: the decision callback sees the key and can refuse a changed one', async () => {
    const a = await endpoint(alice, () => true);
    const b = await endpoint(bob);
    const pinned: Fingerprint[] = [];
    const decide = (seen: Fingerprint) => {
      if (pinned.length === 0) pinned.push(seen);
      return pinned[0] === seen
        ? { ok: true as const }
        : { ok: false as const, expected: pinned[0] as Fingerprint };
    };
    const c = await b.dial({
      host: '127.0.0.1',
      port: a.address.port,
      expect: { decide },
      parseSignal: parse,
    });
    assert.deepEqual(pinned, [alice.fingerprint]);
    await c.close();
    const other = await endpoint(Identity.generate(), () => true);
    await assert.rejects(
      b.dial({
        host: '127.0.0.1',
        port: other.address.port,
        expect: { decide },
        parseSignal: parse,
        timeoutMs: 3000,
      }),
      PeerIdentityMismatchError,
    );
  });

  test('oversized, non-JSON and off-schema frames are dropped and counted; the connection lives on', async () => {
    const a = await endpoint(alice, () => true, { maxSignalBytes: 256 });
    // A raw QUIC client with a valid identity plays the hostile peer: it writes whatever bytes it likes.
    const accepted = nextConnection(a);
    const client = await hostileClient(bob, '127.0.0.1', a.address.port);
    try {
      const json = (v: unknown) => encodeFrame(new TextEncoder().encode(JSON.stringify(v)));
      const w = { write: (b: Uint8Array) => client.write(b) };
      await client.json({ $wzp: 'hello', v: 1 });
      const conn = await accepted;
      const got: Msg[] = [];
      conn.on('signal', (m) => got.push(m));
      conn.startDelivery();
      await w.write(json({ t: 'ping', n: 1 }));
      await w.write(json({ t: 'ping', n: 2, pad: 'x'.repeat(1000) }));
      await w.write(encodeFrame(new TextEncoder().encode('{not json')));
      await w.write(encodeFrame(new Uint8Array([0xff, 0xfe, 0x00])));
      await w.write(json({ t: 'nope', n: 3 }));
      await w.write(json([1, 2, 3]));
      await w.write(json({ t: 'pong', n: 4 }));
      await eventually(() => got.length === 2, 'the two good signals');
      assert.deepEqual(
        got.map((m) => m.n),
        [1, 4],
      );
      assert.equal(conn.counters.signalsOversized, 1);
      assert.equal(conn.counters.signalsMalformed, 4);
      assert.equal(conn.isClosed, false);
      // And the sending side refuses to send what the far side would drop as oversized.
      const b = await endpoint(bob);
      const small = await endpoint(Identity.generate(), () => true, { maxSignalBytes: 256 });
      const c = await b.dial({
        host: '127.0.0.1',
        port: small.address.port,
        expect: { fingerprint: small.identity.fingerprint },
        parseSignal: parse,
      });
      const ok = await c.sendSignal({ t: 'ping', n: 1, pad: 'y'.repeat(70_000) }).then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(ok instanceof SignalTooLargeError);
      await c.close();
    } finally {
      await client.destroy();
    }
  });

  test('one socket listens, dials out and answers STUN through the demultiplexer at the same time', async () => {
    const a = await endpoint(alice, (fp) => fp === bob.fingerprint);
    const b = await endpoint(bob);
    const carol = Identity.generate();
    const c = await endpoint(carol, (fp) => fp === alice.fingerprint);

    // A answers STUN-looking datagrams on its QUIC socket by echoing the transaction id.
    a.onNonQuic((data, rinfo) => {
      if (data[0] !== 0x00 || data[1] !== 0x01) return;
      const reply = Buffer.from(data);
      reply[1] = 0x01;
      reply[0] = 0x01; // Binding success response type 0x0101
      void a.sendRaw(reply, rinfo.port, rinfo.address);
    });

    const inbound = nextConnection(a);
    const atCPromise = nextConnection(c);
    const [fromB, toC] = await Promise.all([
      b.dial({
        host: '127.0.0.1',
        port: a.address.port,
        expect: { fingerprint: alice.fingerprint },
        parseSignal: parse,
      }),
      a.dial({
        host: '127.0.0.1',
        port: c.address.port,
        expect: { fingerprint: carol.fingerprint },
        parseSignal: parse,
      }),
    ]);
    const atA = await inbound;
    assert.equal(atA.local.port, toC.local.port, 'both connections share the one socket');

    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    try {
      const request = Buffer.alloc(20);
      request.writeUInt16BE(0x0001, 0);
      request.writeUInt32BE(0x2112a442, 4);
      request.fill(7, 8);
      const answer = new Promise<Buffer>((r) => udp.once('message', r));
      udp.send(request, a.address.port, '127.0.0.1');
      const reply = await answer;
      assert.equal(reply.readUInt16BE(0), 0x0101);
      assert.deepEqual(reply.subarray(8), request.subarray(8));
      assert.ok(a.counters.nonQuicDatagrams >= 1);

      // Garbage that looks like QUIC does not disturb anything either.
      for (let i = 0; i < 200; i++) {
        const junk = Buffer.from(crypto.getRandomValues(new Uint8Array(1 + (i % 1300))));
        udp.send(junk, a.address.port, '127.0.0.1');
      }
    } finally {
      udp.close();
    }
    const mediaAtA = nextOf<Uint8Array>((h) => atA.on('media', h));
    await fromB.sendMedia(new Uint8Array([5]));
    assert.deepEqual(await mediaAtA, new Uint8Array([5]));
    const atC = await atCPromise;
    const mediaAtC = nextOf<Uint8Array>((h) => atC.on('media', h));
    await toC.sendMedia(new Uint8Array([6]));
    assert.deepEqual(await mediaAtC, new Uint8Array([6]));
    const sig = nextOf<Msg>((h) => fromB.on('signal', h));
    atA.startDelivery();
    await atA.sendSignal({ t: 'pong', n: 9 });
    assert.deepEqual(await sig, { t: 'pong', n: 9 });
    assert.equal(toC.isClosed, false);
  });
});
