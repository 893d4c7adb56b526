// The QUIC library rethrows a connection's or stream's "internal" failure from its own event
// handler, which would be an uncaught exception in whatever host runs the engine. The guard in
// transport/quic-internals.ts must absorb it in every process that loads the engine (this test
// process installs no handler of its own: an escape fails the test run), count it, and close
// that one connection, while the endpoint goes on serving others.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { errors as quicErrors, events as quicEvents } from '@matrixai/quic';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { QuicEndpoint } from '../../src-main/engine/transport/endpoint.ts';
import {
  existingPeerStreams,
  onPerConnectionQuicFailure,
  perConnectionQuicFailuresAbsorbed,
} from '../../src-main/engine/transport/quic-internals.ts';
import type { PeerConnection } from '../../src-main/engine/transport/peer-connection.ts';
import { hostileClient } from '../support/hostile-quic.ts';

const parse = (j: unknown): unknown => j;

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

describe('QUIC per-connection failures are absorbed where the library is wrapped', () => {
  const endpoints: QuicEndpoint<unknown>[] = [];
  after(async () => {
    await Promise.all(endpoints.map((e) => e.close()));
  });

  async function acceptor(): Promise<QuicEndpoint<unknown>> {
    const e = await QuicEndpoint.create<unknown>({
      identity: Identity.generate(),
      host: '127.0.0.1',
      parseAcceptedSignal: parse,
      acceptPeer: () => true,
      handshakeTimeoutMs: 3000,
    });
    endpoints.push(e);
    return e;
  }

  test("a connection's internal failure is counted, reported, and closes only that connection", async () => {
    const e = await acceptor();
    const accepted = new Promise<PeerConnection<unknown>>((r) => e.once('connection', r));
    const victim = await hostileClient(Identity.generate(), '127.0.0.1', e.address.port);
    await victim.json({ $wzp: 'hello', v: 1 });
    const conn = await withTimeout(accepted, 5000, 'the accepted connection');

    const before = perConnectionQuicFailuresAbsorbed();
    const heard: Error[] = [];
    const off = onPerConnectionQuicFailure((err) => heard.push(err));
    const failure = new quicErrors.ErrorQUICConnectionInternal('injected internal failure');
    victim.quic.connection.dispatchEvent(
      new quicEvents.EventQUICConnectionError({ detail: failure }),
    );
    off();
    assert.equal(perConnectionQuicFailuresAbsorbed(), before + 1);
    assert.deepEqual(heard, [failure]);
    // The failed connection is closed at once (not left to the idle timeout), on both sides.
    await withTimeout(victim.closed, 5000, 'the failed connection to close');
    await withTimeout(conn.closed, 5000, 'the far side to see it closed');

    // The endpoint still serves a new peer.
    const next = new Promise<PeerConnection<unknown>>((r) => e.once('connection', r));
    const other = await hostileClient(Identity.generate(), '127.0.0.1', e.address.port);
    await other.json({ $wzp: 'hello', v: 1 });
    const conn2 = await withTimeout(next, 5000, 'a second connection');
    assert.equal(conn2.isClosed, false);
    await other.destroy();
  });

  test("a stream's internal failure is counted and does not escape", async () => {
    const e = await acceptor();
    const client = await hostileClient(Identity.generate(), '127.0.0.1', e.address.port);
    await client.json({ $wzp: 'hello', v: 1 });
    const [stream] = existingPeerStreams(client.quic.connection);
    assert.ok(stream, 'the client has its signal stream');
    const before = perConnectionQuicFailuresAbsorbed();
    stream.dispatchEvent(
      new quicEvents.EventQUICStreamError({
        detail: new quicErrors.ErrorQUICStreamInternal('injected stream failure'),
      }),
    );
    assert.equal(perConnectionQuicFailuresAbsorbed(), before + 1);
    await client.destroy();
  });
});
