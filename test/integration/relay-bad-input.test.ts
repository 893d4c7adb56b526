// Hostile input at every stage of a relay connection (raw UDP, before registration, after it)
// is dropped and counted, and the relay keeps serving well-behaved clients throughout.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import type { ClientToRelay } from '../../src-shared/relay-protocol.ts';
import { hostileClient } from '../support/hostile-quic.ts';
import {
  assertRelayServes,
  startClient,
  startRelayWithPair,
  stopRelayWithPair,
  type RunningRelay,
  type TestClient,
} from '../support/relay-harness.ts';

let relay: RunningRelay;
let alice: TestClient;
let bob: TestClient;
before(async () => ({ relay, alice, bob } = await startRelayWithPair()));
after(() => stopRelayWithPair({ relay, alice, bob }));

/** The well-behaved pair can still set up a call through the relay. */
const relayStillServes = () => assertRelayServes(relay, alice, bob);

const fp = () => Identity.generate().fingerprint;
/** JSON values shaped like our messages, with wrong types, unknown kinds and stray fields. */
const nearMessage = fc.oneof(
  fc.jsonValue(),
  fc.record({
    t: fc.constantFrom('register', 'subscribe', 'signal', 'bogus', 42),
    signature: fc.oneof(fc.string(), fc.constant(randomBytes(64).toString('base64url'))),
  }),
  fc.record({
    t: fc.constant('subscribe'),
    fingerprints: fc.array(fc.oneof(fc.string(), fc.constant('wzp1qqqq'))),
  }),
  fc.record({
    t: fc.constant('signal'),
    to: fc.oneof(fc.string(), fc.constant('TO_BOB')),
    callId: fc.oneof(fc.string(), fc.constant(newCallId())),
    signal: fc.oneof(
      fc.jsonValue(),
      fc.record({
        kind: fc.constantFrom(
          'invite',
          'accept',
          'hangup',
          'key-share',
          'ice-candidate',
          'quality',
          'nope',
        ),
        direct: fc.anything(),
      }),
    ),
  }),
);

describe('relay under hostile input', () => {
  test('random datagrams at the QUIC and STUN ports', async () => {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.uint8Array({ minLength: 1, maxLength: 1400 }), {
            minLength: 1,
            maxLength: 50,
          }),
          async (packets) => {
            for (const p of packets) {
              sock.send(p, relay.quic.port, relay.quic.host);
              sock.send(p, relay.stun.port, relay.stun.host);
            }
            await new Promise((r) => setTimeout(r, 5));
          },
        ),
        { numRuns: 30 },
      );
      // Datagrams shaped like STUN and relay media headers, to get past the first-byte demux.
      for (let i = 0; i < 300; i++) {
        const b = randomBytes(20 + (i % 200));
        b[0] = i % 2 === 0 ? i % 4 : 0x18 + (i % 4);
        b.writeUInt32BE(0x2112a442, 4);
        sock.send(b, relay.stun.port, relay.stun.host);
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      sock.close();
    }
    await relayStillServes();
    const h = await relay.health();
    // Loopback may drop some of a burst; what arrived was classified and counted, not fatal.
    const media = h.media as {
      unknown: number;
      stunIn: number;
      relayIn: number;
      datagrams: number;
    };
    assert.ok(media.datagrams >= 100, JSON.stringify(media));
    assert.equal(media.unknown + media.stunIn + media.relayIn, media.datagrams);
  });

  test('random bytes and malformed frames on the signal stream, before registration', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 300 }),
            fc.jsonValue().map((v) => new TextEncoder().encode(JSON.stringify(v))),
          ),
          { maxLength: 20 },
        ),
        fc.boolean(),
        async (chunks, helloFirst) => {
          const h = await hostileClient(Identity.generate(), relay.quic.host, relay.quic.port);
          try {
            if (helloFirst) await h.json({ $wzp: 'hello', v: 1 });
            for (const c of chunks) await h.write(c);
          } finally {
            await h.destroy();
          }
        },
      ),
      { numRuns: 15 },
    );
    await relayStillServes();
  });

  test('well-framed but malformed or misaddressed messages, after registration', async () => {
    const before = await relay.health();
    await fc.assert(
      fc.asyncProperty(fc.array(nearMessage, { minLength: 1, maxLength: 10 }), async (msgs) => {
        const mallory = await startClient(relay);
        try {
          const conn = mallory.link.connection;
          assert.ok(conn);
          for (const m of msgs) {
            const patched = JSON.parse(
              JSON.stringify(m).replaceAll('TO_BOB', bob.identity.fingerprint),
            ) as unknown;
            // A hostile client sends anything at all; the type system only guards honest code.
            await conn.sendSignal(patched as ClientToRelay).catch(() => undefined);
          }
        } finally {
          await mallory.close();
        }
      }),
      { numRuns: 25 },
    );
    // Valid messages in the wrong place: answering calls that do not exist, hanging up others' calls.
    const mallory = await startClient(relay);
    try {
      for (let i = 0; i < 5; i++) {
        await mallory.link.sendSignal(bob.identity.fingerprint, newCallId(), {
          kind: 'accept',
          direct: true,
        });
        await mallory.link.sendSignal(fp(), newCallId(), {
          kind: 'hangup',
          reason: 'normal',
        });
      }
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await mallory.close();
    }
    const h = await relay.health();
    assert.ok(
      (h.malformedSignals as number) > (before.malformedSignals as number),
      'off-schema messages are counted',
    );
    const drops = h.drops as Record<string, number>;
    const drops0 = before.drops as Record<string, number>;
    assert.ok(
      (drops['unknown-call'] ?? 0) - (drops0['unknown-call'] ?? 0) >= 10,
      JSON.stringify(drops),
    );
    await relayStillServes();
  });

  test('a flood of signals from one identity is capped', async () => {
    const flooder = await startClient(relay);
    const before = (await relay.health()).drops as Record<string, number>;
    try {
      // Every signal is answered (unknown-call if it passed the cap, rate-limited if not).
      let answered = 0;
      const allAnswered = new Promise<void>((resolve) =>
        flooder.link.on('call-error', () => ++answered === 300 && resolve()),
      );
      const started = performance.now();
      const sends: Promise<void>[] = [];
      for (let i = 0; i < 300; i++) {
        sends.push(
          flooder.link.sendSignal(fp(), newCallId(), { kind: 'ringing' }).catch(() => undefined),
        );
      }
      await Promise.all(sends);
      await allAnswered;
      const seconds = (performance.now() - started) / 1000;
      const drops = (await relay.health()).drops as Record<string, number>;
      const delta = (k: string) => (drops[k] ?? 0) - (before[k] ?? 0);
      // The bucket holds 60 and refills at 30/s: no more than that got through, the rest was capped.
      assert.ok(delta('unknown-call') <= 60 + 30 * seconds + 1, JSON.stringify({ seconds, drops }));
      assert.equal(delta('unknown-call') + delta('rate-limited'), 300);
    } finally {
      await flooder.close();
    }
    await relayStillServes();
  });
});
