// A raw QUIC client with a valid identity certificate that writes whatever bytes it likes on the
// signal stream: the hostile peer for bad-input tests (it skips every check our transport makes).
import { QUICClient } from '@matrixai/quic';
import Logger, { LogLevel } from '@matrixai/logger';
import { tlsCredentialsFor } from '../../src-main/engine/identity/certificate.ts';
import type { Identity } from '../../src-main/engine/identity/identity.ts';
import { encodeFrame } from '../../src-main/engine/transport/signal-framing.ts';

export interface HostileClient {
  /** Write raw bytes on the signal stream. */
  write(bytes: Uint8Array): Promise<void>;
  /** Write one framed JSON value. */
  json(value: unknown): Promise<void>;
  readonly closed: Promise<void>;
  destroy(): Promise<void>;
}

export async function hostileClient(
  identity: Identity,
  host: string,
  port: number,
): Promise<HostileClient> {
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
      },
    },
    { timer: 3000 },
  );
  const stream = client.connection.newStream('bidi');
  const writer = stream.writable.getWriter();
  // Drain whatever the other side says so its flow control never blocks on us.
  void (async () => {
    const reader = stream.readable.getReader();
    try {
      for (;;) if ((await reader.read()).done) break;
    } catch {
      // closed
    }
  })();
  return {
    write: (bytes) => writer.write(bytes),
    json: (value) => writer.write(encodeFrame(new TextEncoder().encode(JSON.stringify(value)))),
    closed: client.closedP,
    destroy: () => client.destroy({ force: true }),
  };
}
