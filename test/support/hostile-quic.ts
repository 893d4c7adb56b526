// A raw QUIC client with a valid identity certificate that writes whatever bytes it likes on the
// signal stream: the hostile peer for bad-input and abuse tests (it skips every check our
// transport makes). It can register like an honest client, and then stop reading, so tests can
// see what the relay does with a client that takes nothing it is sent.
import { QUICClient } from '@matrixai/quic';
import Logger, { LogLevel } from '@matrixai/logger';
import { tlsCredentialsFor } from '../../src-main/engine/identity/certificate.ts';
import type { Identity } from '../../src-main/engine/identity/identity.ts';
import { FrameDecoder, encodeFrame } from '../../src-main/engine/transport/signal-framing.ts';
import { registrationMessage } from '../../src-shared/relay-protocol.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';

export interface HostileClient {
  /** Write raw bytes on the signal stream. */
  write(bytes: Uint8Array): Promise<void>;
  /** Write one framed JSON value. */
  json(value: unknown): Promise<void>;
  /** Every JSON frame read so far (while reading). */
  readonly received: unknown[];
  /** Bytes read off the signal stream so far. */
  readonly bytesRead: () => number;
  /** Resolve with the first frame (already received or still to come) that matches. */
  waitFor(match: (msg: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<unknown>;
  /** Say hello, answer the relay's challenge as this identity, wait for `registered`. */
  register(): Promise<void>;
  /** Stop taking data off the stream: QUIC flow control then pushes back on the sender. */
  stopReading(): void;
  /** The connection's close reason as the far side sent it, once closed. */
  closeReason(): string | null;
  readonly closed: Promise<void>;
  readonly isClosed: () => boolean;
  destroy(): Promise<void>;
  /** The library's client itself, for tests that reach into its events. */
  readonly quic: QUICClient;
}

export interface HostileClientOptions {
  /** Our receive window for the signal stream: small makes a non-reader stall the sender soon. */
  receiveWindowBytes?: number;
}

export async function hostileClient(
  identity: Identity,
  host: string,
  port: number,
  opts: HostileClientOptions = {},
): Promise<HostileClient> {
  const windows =
    opts.receiveWindowBytes === undefined
      ? {}
      : {
          initialMaxData: opts.receiveWindowBytes,
          initialMaxStreamDataBidiLocal: opts.receiveWindowBytes,
          maxStreamWindow: opts.receiveWindowBytes,
          maxConnectionWindow: opts.receiveWindowBytes,
        };
  const creds = await tlsCredentialsFor(identity);
  const client = await QUICClient.createQUICClient(
    {
      host,
      port,
      localHost: '127.0.0.1',
      logger: new Logger('hostile', LogLevel.SILENT),
      crypto: {
        ops: {
          randomBytes: async (b: ArrayBuffer) => void crypto.getRandomValues(new Uint8Array(b)),
        },
      },
      config: {
        key: creds.keyPem,
        cert: creds.certPem,
        verifyPeer: true,
        verifyCallback: async () => undefined,
        enableDgram: [true, 1024, 1024],
        applicationProtos: ['wzp/1'],
        ...windows,
      },
    },
    { timer: 3000 },
  );
  const stream = client.connection.newStream('bidi');
  const writer = stream.writable.getWriter();
  const received: unknown[] = [];
  const waiters = new Set<(m: Record<string, unknown>) => boolean>();
  let bytesRead = 0;
  let reading = true;
  let closed = false;
  const closedP = client.closedP.then(
    () => void (closed = true),
    () => void (closed = true),
  );
  // Read (so the other side's flow control never blocks on us) until told to stop.
  void (async () => {
    const reader = stream.readable.getReader();
    const decoder = new FrameDecoder(1 << 20);
    const text = new TextDecoder();
    try {
      while (reading) {
        const { value, done } = await reader.read();
        if (done) break;
        bytesRead += value.length;
        for (const f of decoder.push(value)) {
          if (f.kind !== 'frame') continue;
          let msg: unknown;
          try {
            msg = JSON.parse(text.decode(f.payload));
          } catch {
            continue;
          }
          received.push(msg);
          if (typeof msg === 'object' && msg !== null)
            for (const w of [...waiters]) if (w(msg as Record<string, unknown>)) waiters.delete(w);
        }
      }
    } catch {
      // closed
    }
  })();
  const json = (value: unknown) =>
    writer.write(encodeFrame(new TextEncoder().encode(JSON.stringify(value))));
  const waitFor = (match: (m: Record<string, unknown>) => boolean, timeoutMs = 10_000) =>
    new Promise<unknown>((resolve, reject) => {
      const seen = received.find(
        (m) => typeof m === 'object' && m !== null && match(m as Record<string, unknown>),
      );
      if (seen !== undefined) return resolve(seen);
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`hostile client: no matching frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const w = (m: Record<string, unknown>) => {
        if (!match(m)) return false;
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      waiters.add(w);
    });
  return {
    write: (bytes) => writer.write(bytes),
    json,
    received,
    bytesRead: () => bytesRead,
    waitFor,
    async register() {
      await json({ $wzp: 'hello', v: 1 });
      const challenge = (await waitFor((m) => m.t === 'challenge')) as {
        nonce: string;
        relay: Fingerprint;
      };
      const sig = identity.sign(
        registrationMessage(challenge.relay, challenge.nonce, identity.fingerprint),
      );
      await json({ t: 'register', signature: Buffer.from(sig).toString('base64url') });
      await waitFor((m) => m.t === 'registered');
    },
    stopReading: () => void (reading = false),
    closeReason: () => {
      const err = client.connection.getConnectionError();
      return err ? new TextDecoder().decode(err.reason) : null;
    },
    closed: closedP,
    isClosed: () => closed,
    destroy: () => client.destroy({ force: true }),
    quic: client,
  };
}
