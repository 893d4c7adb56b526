// Integration test of the relay's UDP plane over loopback sockets: two granted clients bind and
// exchange media both ways through it; a socket without a grant, or with a wrong key, gets
// nothing through; STUN and junk are demultiplexed by the first byte.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { Socket } from 'node:dgram';
import { MediaForwarder } from '../../src-main/relay/media-forwarder.ts';
import { RelayUdpPlane } from '../../src-main/relay/udp-plane.ts';
import {
  RelayFrameType,
  RelayMediaChannel,
  encodeRelayFrame,
} from '../../src-main/engine/transport/relay-media-frame.ts';
import type { RelayChannelInput } from '../../src-main/engine/transport/relay-media-frame.ts';

interface Client {
  sock: Socket;
  inbox: Buffer[];
}

async function client(): Promise<Client> {
  const sock = dgram.createSocket('udp4');
  const inbox: Buffer[] = [];
  sock.on('message', (m) => inbox.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { sock, inbox };
}

function send(c: Client, buf: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    c.sock.send(buf, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())),
  );
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for datagrams');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('relay UDP plane on loopback', () => {
  let fwd: MediaForwarder;
  let plane: RelayUdpPlane;
  let port = 0;
  const clients: Client[] = [];

  before(async () => {
    fwd = new MediaForwarder();
    plane = new RelayUdpPlane({
      forwarder: fwd,
      stun: (buf) =>
        buf[1] === 0x01 ? Buffer.concat([Buffer.from([0x01, 0x01]), buf.subarray(2)]) : null,
    });
    port = (await plane.bind('127.0.0.1', 0)).port;
  });

  after(async () => {
    await plane.close();
    for (const c of clients) c.sock.close();
  });

  test('two granted clients bind and exchange media both ways; strangers get nothing through', async () => {
    const a = await client();
    const b = await client();
    const evil = await client();
    clients.push(a, b, evil);
    const ga = fwd.grant('call-x', 'alice');
    const gb = fwd.grant('call-x', 'bob');
    const alice = new RelayMediaChannel(ga.channelId, ga.key);
    const bob = new RelayMediaChannel(gb.channelId, gb.key);

    await send(a, alice.encodeBind(), port);
    await send(b, bob.encodeBind(), port);
    await until(() => a.inbox.length >= 1 && b.inbox.length >= 1);
    assert.equal(alice.receive(a.inbox.shift() as Buffer).kind, 'bind-ack');
    assert.equal(bob.receive(b.inbox.shift() as Buffer).kind, 'bind-ack');

    const N = 20;
    for (let i = 0; i < N; i++) {
      await send(a, alice.encodeData(Buffer.from(`a->b ${i}`)), port);
      await send(b, bob.encodeData(Buffer.from(`b->a ${i}`)), port);
    }
    await until(() => a.inbox.length >= N && b.inbox.length >= N);
    const texts = (ch: RelayMediaChannel, inbox: Buffer[]): string[] =>
      inbox
        .map((m) => ch.receive(m))
        .filter((r): r is Extract<RelayChannelInput, { kind: 'data' }> => r.kind === 'data')
        .map((r) => r.payload.toString())
        .sort();
    const expect = (dir: string): string[] =>
      Array.from({ length: N }, (_, i) => `${dir} ${i}`).sort();
    assert.deepEqual(texts(bob, b.inbox.splice(0)), expect('a->b'));
    assert.deepEqual(texts(alice, a.inbox.splice(0)), expect('b->a'));

    // A stranger: no grant (unknown channel), a guessed live channel with a wrong key, and a
    // replay of Alice's genuine frame. None of it may reach Bob or Alice.
    const stranger = new RelayMediaChannel(12345, Buffer.alloc(32, 1));
    await send(evil, stranger.encodeBind(), port);
    await send(evil, stranger.encodeData(Buffer.from('spam')), port);
    const forged = encodeRelayFrame(
      RelayFrameType.ClientData,
      ga.channelId,
      10_000,
      Buffer.from('forged'),
      Buffer.alloc(32, 2),
    );
    await send(evil, forged, port);
    const genuine = alice.encodeData(Buffer.from('genuine'));
    await send(a, genuine, port);
    await send(evil, genuine, port);
    await send(evil, alice.encodeBind().subarray(0, 10), port);

    // The genuine frame is the last thing Bob should see; wait for it, then for the plane to
    // have handled every datagram sent so far.
    await until(() => b.inbox.length >= 1);
    await until(() => plane.counters().relayIn >= 2 + 2 * N + 6);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(texts(bob, b.inbox.splice(0)), ['genuine']);
    assert.equal(a.inbox.length, 0);
    assert.equal(evil.inbox.length, 0);
    const d = plane.counters().forwarder.drops;
    assert.equal(d.unknownChannel, 2);
    assert.equal(d.badMac, 1);
    assert.equal(d.replay, 1);
    assert.equal(d.malformed, 1);
    assert.deepEqual(fwd.callStats('call-x')?.parties[0]?.address, {
      address: '127.0.0.1',
      port: a.sock.address().port,
    });

    const st = fwd.callStats('call-x');
    assert.equal(st?.parties[0]?.rxFrames, 1 + N + 1);
    assert.equal(st?.parties[1]?.txFrames, 1 + N + 1);
  });

  test('STUN goes to the STUN handler, other first bytes are dropped and counted', async () => {
    const c = await client();
    clients.push(c);
    const before = plane.counters();
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0);
    req.writeUInt32BE(0x2112a442, 4);
    await send(c, req, port);
    await until(() => c.inbox.length >= 1);
    const reply = c.inbox.shift() as Buffer;
    assert.equal(reply.readUInt16BE(0), 0x0101);
    assert.ok(reply.subarray(4).equals(req.subarray(4)));

    await send(c, Buffer.from([0x00, 0x11, 0, 0]), port); // the handler answers null
    await send(c, Buffer.from([0xc3, 1, 2, 3]), port); // a QUIC long header at the wrong port
    await until(() => plane.counters().datagrams >= before.datagrams + 3);
    const after = plane.counters();
    assert.equal(after.stunIn - before.stunIn, 2);
    assert.equal(after.stunReplies - before.stunReplies, 1);
    assert.equal(after.unknown - before.unknown, 1);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(c.inbox.length, 0);
  });
});
