// STUN client and responder: wire round trips over an in-memory pipe driven by a fake clock,
// RFC 5389 retransmission timing, matching and forgery, and fuzzing that nothing throws.
// The last block crosses two real dgram sockets on 127.0.0.1.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import {
  StunBindError,
  StunClient,
  type StunTimers,
} from '../../src-main/engine/nat/stun-client.ts';
import {
  decodeStun,
  encodeBindingRequest,
  encodeBindingSuccess,
  isStunPacket,
} from '../../src-main/engine/nat/stun-message.ts';
import { StunResponder } from '../../src-main/relay/stun-responder.ts';

class FakeClock implements StunTimers {
  t = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  now = (): number => this.t;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Runs due timers in time order, including ones they schedule. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers)
        if (e[1].at <= end && (next === undefined || e[1].at < next[1].at)) next = e;
      if (next === undefined) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
  get pending(): number {
    return this.timers.size;
  }
}

const SERVER = { host: '198.18.0.1', port: 3478 };
const MAPPED = { address: '203.0.113.7', port: 40001 };

/** Client and responder joined by a fake network: `fate(n)` decides per packet whether it arrives. */
function pipe(
  opts: {
    latencyMs?: number;
    fate?: (n: number, dir: 'up' | 'down') => boolean;
    mapped?: typeof MAPPED;
  } = {},
) {
  const clock = new FakeClock();
  const responder = new StunResponder({ software: 'test-relay' });
  const latency = opts.latencyMs ?? 5;
  const sentTimes: number[] = [];
  let n = 0;
  const client = new StunClient({
    now: clock.now,
    timers: clock,
    send: (buf, port, host) => {
      assert.equal(port, SERVER.port);
      assert.equal(host, SERVER.host);
      sentTimes.push(clock.t);
      const copy = Buffer.from(buf);
      const i = n++;
      if (opts.fate && !opts.fate(i, 'up')) return;
      clock.setTimeout(() => {
        const resp = responder.handle(copy, opts.mapped ?? MAPPED);
        if (resp === null) return;
        if (opts.fate && !opts.fate(i, 'down')) return;
        clock.setTimeout(
          () => client.handle(resp, { address: SERVER.host, port: SERVER.port }),
          latency,
        );
      }, latency);
    },
  });
  return { clock, client, responder, sentTimes };
}

async function settle<T>(p: Promise<T>): Promise<{ ok: T } | { err: unknown }> {
  return p.then(
    (ok) => ({ ok }),
    (err: unknown) => ({ err }),
  );
}

describe('isStunPacket / decodeStun', () => {
  test('recognises our own request and rejects QUIC-looking and short packets', () => {
    const req = encodeBindingRequest(Buffer.alloc(12, 7));
    assert.equal(req.length, 20);
    assert.equal(isStunPacket(req), true);
    const quicLong = Buffer.from(req);
    quicLong[0] = 0xc0;
    assert.equal(isStunPacket(quicLong), false);
    const noCookie = Buffer.from(req);
    noCookie[4] = 0;
    assert.equal(isStunPacket(noCookie), false);
    assert.equal(isStunPacket(req.subarray(0, 19)), false);
  });

  test('decodes IPv4 and IPv6 XOR-MAPPED-ADDRESS produced by the encoder', () => {
    for (const addr of ['192.0.2.1', '2001:db8::42']) {
      const tx = Buffer.from('00112233445566778899aabb', 'hex');
      const d = decodeStun(encodeBindingSuccess(tx, { address: addr, port: 5555 }, 'x'));
      assert.ok(typeof d === 'object');
      assert.deepEqual(d.xorMapped, {
        address: addr,
        port: 5555,
        family: addr.includes(':') ? 'IPv6' : 'IPv4',
      });
      assert.equal(d.software, 'x');
      assert.deepEqual(d.transactionId, tx);
    }
  });

  test('reads ERROR-CODE correctly (the package itself decodes 420 as 480)', () => {
    const tx = Buffer.alloc(12, 1);
    const reason = Buffer.from('Unknown Attribute');
    const attrLen = 4 + reason.length;
    const pad = (4 - (attrLen % 4)) % 4;
    const body = Buffer.alloc(4 + attrLen + pad);
    body.writeUInt16BE(0x0009, 0);
    body.writeUInt16BE(attrLen, 2);
    body[6] = 4;
    body[7] = 20;
    reason.copy(body, 8);
    const hdr = Buffer.alloc(20);
    hdr.writeUInt16BE(0x0111, 0);
    hdr.writeUInt16BE(body.length, 2);
    hdr.writeUInt32BE(0x2112a442, 4);
    tx.copy(hdr, 8);
    const d = decodeStun(Buffer.concat([hdr, body]));
    assert.ok(typeof d === 'object');
    assert.deepEqual(d.error, { code: 420, reason: 'Unknown Attribute' });
  });
});

describe('StunResponder', () => {
  test('answers a Binding Request with the source address, IPv4 and IPv6, plus SOFTWARE', () => {
    const r = new StunResponder({ software: 'wzp-test' });
    const tx = Buffer.alloc(12, 9);
    for (const [address, expected, family] of [
      ['10.1.2.3', '10.1.2.3', 'IPv4'],
      ['::ffff:127.0.0.1', '127.0.0.1', 'IPv4'],
      ['2001:db8::7', '2001:db8::7', 'IPv6'],
    ] as const) {
      const out = r.handle(encodeBindingRequest(tx), { address, port: 6000 });
      assert.ok(out);
      const d = decodeStun(out);
      assert.ok(typeof d === 'object');
      assert.equal(d.type, 0x0101);
      assert.deepEqual(d.transactionId, tx);
      assert.deepEqual(d.xorMapped, { address: expected, port: 6000, family });
      assert.equal(d.software, 'wzp-test');
    }
    const s = r.stats();
    assert.equal(s.requests, 3);
    assert.equal(s.answered, 3);
    assert.equal(s.answeredV4, 2);
    assert.equal(s.answeredV6, 1);
  });

  test('stays silent on responses, indications, other methods and junk, counting each reason', () => {
    const r = new StunResponder();
    const tx = Buffer.alloc(12, 3);
    const from = { address: '127.0.0.1', port: 1234 };
    const resp = encodeBindingSuccess(tx, { address: '1.2.3.4', port: 5 });
    assert.equal(r.handle(resp, from), null);
    const indication = encodeBindingRequest(tx);
    indication.writeUInt16BE(0x0011, 0);
    assert.equal(r.handle(indication, from), null);
    const allocate = encodeBindingRequest(tx);
    allocate.writeUInt16BE(0x0003, 0);
    assert.equal(r.handle(allocate, from), null);
    assert.equal(r.handle(Buffer.from('hello world, not stun at all'), from), null);
    const truncated = Buffer.concat([encodeBindingRequest(tx), Buffer.alloc(4)]);
    assert.equal(r.handle(truncated, from), null);
    assert.equal(r.handle(encodeBindingRequest(tx), { address: 'nonsense', port: 1 }), null);
    assert.equal(r.handle(encodeBindingRequest(tx), { address: '1.2.3.4', port: 0 }), null);
    const s = r.stats();
    assert.equal(s.answered, 0);
    assert.deepEqual(s.dropped, {
      notStun: 1,
      badLength: 1,
      malformed: 0,
      notRequest: 2,
      notBinding: 1,
      badSource: 2,
      rateLimited: 0,
      encodeFailed: 0,
    });
  });

  test('answers each source at a bounded rate, no more than 1.6 times what it was sent', () => {
    let t = 0;
    const r = new StunResponder({ ratePerSource: 10, burstPerSource: 5, now: () => t });
    const req = encodeBindingRequest(Buffer.alloc(12, 7));
    const ask = (address: string) => r.handle(req, { address, port: 4000 });
    const answers = Array.from({ length: 20 }, () => ask('192.0.2.1'));
    assert.equal(answers.filter((a) => a !== null).length, 5, 'the burst, then nothing');
    for (const a of answers) if (a) assert.ok(a.length <= 1.6 * req.length, `${a.length} bytes`);
    // Another source has its own bucket; one /64 is one source.
    assert.ok(ask('192.0.2.2'));
    assert.ok(ask('2001:db8::1'));
    for (let i = 0; i < 4; i++) ask('2001:db8::1');
    assert.equal(ask('2001:db8::2'), null);
    t = 1000;
    assert.equal(Array.from({ length: 20 }, () => ask('192.0.2.1')).filter(Boolean).length, 5);
    assert.equal(r.stats().dropped.rateLimited, 15 + 1 + 15);
  });

  test('the sources it tracks are bounded: beyond the cap, new sources share one bucket', () => {
    let t = 0;
    const r = new StunResponder({
      ratePerSource: 1,
      burstPerSource: 1,
      maxSources: 100,
      now: () => t,
    });
    const req = encodeBindingRequest(Buffer.alloc(12, 7));
    let answered = 0;
    for (let i = 0; i < 1000; i++) {
      if (r.handle(req, { address: `10.0.${i >> 8}.${i & 255}`, port: 1 })) answered++;
    }
    // 100 sources with their own bucket, then one shared bucket of 1 for the other 900.
    assert.equal(answered, 101);
    t = 10_000;
    assert.ok(r.handle(req, { address: '10.9.9.9', port: 1 }), 'refilled buckets are forgotten');
  });

  test('fuzz: random bytes and mutated requests never throw', () => {
    const r = new StunResponder();
    const from = { address: '127.0.0.1', port: 9 };
    const req = encodeBindingRequest(Buffer.alloc(12, 5));
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const out = r.handle(bytes, from);
        assert.ok(out === null || Buffer.isBuffer(out));
      }),
      { numRuns: 3000 },
    );
    // Valid header with a random body: gets past the cheap checks into the decoder.
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom(0x0001, 0x0011, 0x0101, 0x0003),
        (body, type) => {
          const padded = Buffer.concat([
            Buffer.from(body),
            Buffer.alloc((4 - (body.length % 4)) % 4),
          ]);
          const msg = Buffer.concat([req, padded]);
          msg.writeUInt16BE(padded.length, 2);
          msg.writeUInt16BE(type, 0);
          const out = r.handle(msg, from);
          assert.ok(out === null || Buffer.isBuffer(out));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('StunClient', () => {
  test('client and responder agree over a pipe: XOR address, RTT, one transmission', async () => {
    const { clock, client } = pipe({ latencyMs: 5 });
    const p = client.bind(SERVER);
    clock.advance(10);
    const res = await p;
    assert.deepEqual(
      { address: res.address, port: res.port, family: res.family },
      { address: MAPPED.address, port: MAPPED.port, family: 'IPv4' },
    );
    assert.equal(res.rttMs, 10);
    assert.equal(res.transmissions, 1);
    assert.equal(res.software, 'test-relay');
    assert.equal(client.inFlight, 0);
    assert.equal(clock.pending, 0, 'no timer left behind');
  });

  test('IPv6 mapped address', async () => {
    const { clock, client } = pipe({ mapped: { address: '2001:db8::1:2', port: 7 } });
    const p = client.bind(SERVER);
    clock.advance(20);
    const res = await p;
    assert.equal(res.address, '2001:db8::1:2');
    assert.equal(res.family, 'IPv6');
  });

  test('retransmits on the RFC 5389 schedule (RTO 100 ms doubling) until an answer gets through', async () => {
    // The first three requests vanish, the fourth is answered.
    const { clock, client, sentTimes } = pipe({
      latencyMs: 5,
      fate: (n, dir) => dir === 'down' || n >= 3,
    });
    const p = client.bind(SERVER);
    clock.advance(1000);
    const res = await p;
    assert.deepEqual(sentTimes, [0, 100, 300, 700]);
    assert.equal(res.transmissions, 4);
    assert.equal(res.rttMs, 710);
    assert.equal(client.stats().retransmissions, 3);
  });

  test('lost responses are recovered too (the server answers every retransmission)', async () => {
    const { clock, client, responder } = pipe({ fate: (n, dir) => dir === 'up' || n >= 2 });
    const p = client.bind(SERVER);
    clock.advance(1000);
    const res = await p;
    assert.equal(res.transmissions, 3);
    assert.equal(responder.stats().answered, 3);
  });

  test('times out after 7 transmissions and 16 RTOs, with a typed error', async () => {
    const { clock, client, sentTimes } = pipe({ fate: () => false });
    const p = settle(client.bind(SERVER));
    clock.advance(7899);
    assert.equal(client.inFlight, 1);
    clock.advance(1);
    const r = await p;
    assert.ok('err' in r && r.err instanceof StunBindError);
    assert.equal(r.err.kind, 'timeout');
    assert.equal(r.err.details.transmissions, 7);
    assert.deepEqual(sentTimes, [0, 100, 300, 700, 1500, 3100, 6300]);
    assert.equal(client.stats().timeouts, 1);
    assert.equal(clock.pending, 0);
  });

  test('the total deadline and the transmission count are configurable per bind', async () => {
    const { clock, client, sentTimes } = pipe({ fate: () => false });
    const p = settle(client.bind(SERVER, { deadlineMs: 250 }));
    clock.advance(250);
    const r = await p;
    assert.ok('err' in r && r.err instanceof StunBindError && r.err.kind === 'timeout');
    assert.deepEqual(sentTimes, [0, 100]);

    const q = settle(client.bind(SERVER, { rtoMs: 10, maxTransmissions: 2, lastWaitFactor: 4 }));
    const t0 = clock.t;
    clock.advance(49);
    assert.equal(client.inFlight, 1);
    clock.advance(1);
    const r2 = await q;
    assert.ok('err' in r2 && r2.err instanceof StunBindError && r2.err.kind === 'timeout');
    assert.deepEqual(
      sentTimes.slice(2).map((t) => t - t0),
      [0, 10],
    );
  });

  test('ignores forged and unmatched responses; keeps waiting for the real one', async () => {
    const clock = new FakeClock();
    const sent: Buffer[] = [];
    const client = new StunClient({
      now: clock.now,
      timers: clock,
      send: (b) => sent.push(Buffer.from(b)),
    });
    const p = client.bind(SERVER);
    const req = sent[0];
    assert.ok(req);
    const realTx = req.subarray(8, 20);
    const forgedTx = Buffer.from(realTx);
    forgedTx[11] = (forgedTx[11] ?? 0) ^ 1;
    const from = { address: SERVER.host, port: SERVER.port };
    assert.equal(
      client.handle(encodeBindingSuccess(forgedTx, { address: '6.6.6.6', port: 666 }), from),
      false,
    );
    // Right transaction id from the wrong source.
    const good = encodeBindingSuccess(realTx, { address: '9.9.9.9', port: 999 });
    assert.equal(client.handle(good, { address: '198.18.0.99', port: SERVER.port }), false);
    assert.equal(client.handle(good, { address: SERVER.host, port: 1 }), false);
    // Our own request reflected back is not a response.
    assert.equal(client.handle(req, from), false);
    assert.equal(client.handle(Buffer.from('garbage'), from), false);
    assert.equal(client.inFlight, 1);
    assert.equal(
      client.handle(good, { address: `::ffff:${SERVER.host}`, port: SERVER.port }),
      true,
    );
    const res = await p;
    assert.equal(res.address, '9.9.9.9');
    const s = client.stats();
    assert.equal(s.dropped.unmatched, 1);
    assert.equal(s.dropped.wrongSource, 2);
    assert.equal(s.dropped.notResponse, 1);
    assert.equal(s.dropped.notStun, 1);
    // A late duplicate after completion is unmatched, not a second resolution.
    assert.equal(client.handle(good, from), false);
  });

  test('transaction ids are 96 random bits and distinct', () => {
    const sent: Buffer[] = [];
    const clock = new FakeClock();
    const client = new StunClient({
      now: clock.now,
      timers: clock,
      send: (b) => sent.push(Buffer.from(b)),
    });
    for (let i = 0; i < 50; i++) void settle(client.bind(SERVER));
    const ids = new Set(sent.map((b) => b.subarray(8, 20).toString('hex')));
    assert.equal(ids.size, 50);
    client.close();
  });

  test('error responses reject with code and reason', async () => {
    const clock = new FakeClock();
    const sent: Buffer[] = [];
    const client = new StunClient({
      now: clock.now,
      timers: clock,
      send: (b) => sent.push(Buffer.from(b)),
    });
    const p = settle(client.bind(SERVER));
    const tx = sent[0]?.subarray(8, 20);
    assert.ok(tx);
    const reason = Buffer.from('Bad Request!');
    const attr = Buffer.alloc(4 + 4 + reason.length);
    attr.writeUInt16BE(0x0009, 0);
    attr.writeUInt16BE(4 + reason.length, 2);
    attr[6] = 4;
    attr[7] = 0;
    reason.copy(attr, 8);
    const hdr = Buffer.alloc(20);
    hdr.writeUInt16BE(0x0111, 0);
    hdr.writeUInt16BE(attr.length, 2);
    hdr.writeUInt32BE(0x2112a442, 4);
    tx.copy(hdr, 8);
    assert.equal(
      client.handle(Buffer.concat([hdr, attr]), { address: SERVER.host, port: SERVER.port }),
      true,
    );
    const r = await p;
    assert.ok('err' in r && r.err instanceof StunBindError);
    assert.equal(r.err.kind, 'error-response');
    assert.equal(r.err.details.code, 400);
    assert.equal(r.err.details.reason, 'Bad Request!');
    assert.equal(clock.pending, 0);
  });

  test('abort via AbortSignal, before and during the transaction; close rejects the rest', async () => {
    const { clock, client } = pipe({ fate: () => false });
    const early = new AbortController();
    early.abort();
    const r0 = await settle(client.bind(SERVER, { signal: early.signal }));
    assert.ok('err' in r0 && r0.err instanceof StunBindError && r0.err.kind === 'aborted');

    const ac = new AbortController();
    const p = settle(client.bind(SERVER, { signal: ac.signal }));
    clock.advance(150);
    ac.abort(new Error('user hung up'));
    const r = await p;
    assert.ok('err' in r && r.err instanceof StunBindError && r.err.kind === 'aborted');
    assert.equal(clock.pending, 0);

    const q = settle(client.bind(SERVER));
    client.close();
    const r2 = await q;
    assert.ok('err' in r2 && r2.err instanceof StunBindError && r2.err.kind === 'closed');
    const r3 = await settle(client.bind(SERVER));
    assert.ok('err' in r3 && r3.err instanceof StunBindError && r3.err.kind === 'closed');
  });

  test('a send that throws fails the bind at once', async () => {
    const clock = new FakeClock();
    const client = new StunClient({
      now: clock.now,
      timers: clock,
      send: () => {
        throw new Error('socket closed');
      },
    });
    const r = await settle(client.bind(SERVER));
    assert.ok('err' in r && r.err instanceof StunBindError && r.err.kind === 'send-failed');
    assert.equal(clock.pending, 0);
  });

  test('fuzz: random datagrams and random-bodied responses to a live transaction never throw', () => {
    const clock = new FakeClock();
    const sent: Buffer[] = [];
    const client = new StunClient({
      now: clock.now,
      timers: clock,
      send: (b) => sent.push(Buffer.from(b)),
    });
    void settle(client.bind(SERVER));
    const tx = sent[0]?.subarray(8, 20);
    assert.ok(tx);
    const from = { address: SERVER.host, port: SERVER.port };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        assert.equal(typeof client.handle(bytes, from), 'boolean');
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 120 }),
        fc.constantFrom(0x0101, 0x0111, 0x0102),
        (body, type) => {
          const padded = Buffer.concat([
            Buffer.from(body),
            Buffer.alloc((4 - (body.length % 4)) % 4),
          ]);
          const hdr = Buffer.alloc(20);
          hdr.writeUInt16BE(type, 0);
          hdr.writeUInt16BE(padded.length, 2);
          hdr.writeUInt32BE(0x2112a442, 4);
          // Mostly a foreign id so the transaction survives; sometimes ours, to reach the matcher.
          (body.length % 5 === 0 ? tx : Buffer.alloc(12, body.length)).copy(hdr, 8);
          assert.equal(typeof client.handle(Buffer.concat([hdr, padded]), from), 'boolean');
          if (client.inFlight === 0) void settle(client.bind(SERVER));
          // Keep `tx` pointing at the live transaction so later runs can reach the matcher.
          const last = sent.at(-1);
          if (last) last.subarray(8, 20).copy(tx);
        },
      ),
      { numRuns: 3000 },
    );
    client.close();
  });
});

describe('over real sockets on 127.0.0.1', () => {
  test('client on one dgram socket, responder on another', async () => {
    const server = dgram.createSocket('udp4');
    const clientSock = dgram.createSocket('udp4');
    const responder = new StunResponder();
    server.on('message', (msg, rinfo) => {
      const out = responder.handle(msg, rinfo);
      if (out) server.send(out, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
    await new Promise<void>((r) => clientSock.bind(0, '127.0.0.1', r));
    const client = new StunClient({ send: (b, port, host) => clientSock.send(b, port, host) });
    let handled = 0;
    clientSock.on('message', (msg, rinfo) => {
      if (isStunPacket(msg) && client.handle(msg, rinfo)) handled++;
    });
    try {
      const serverPort = (server.address() as AddressInfo).port;
      const res = await client.bind({ host: '127.0.0.1', port: serverPort }, { deadlineMs: 3000 });
      assert.equal(res.address, '127.0.0.1');
      assert.equal(res.port, (clientSock.address() as AddressInfo).port);
      assert.equal(res.family, 'IPv4');
      assert.ok(res.rttMs >= 0);
      assert.equal(handled, 1);
      assert.equal(responder.stats().answered, res.transmissions);
    } finally {
      client.close();
      clientSock.close();
      server.close();
    }
  });
});
