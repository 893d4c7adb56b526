// How this project configures @matrixai/quic through its public API: the transport parameters
// (small stream windows, one peer stream, DATAGRAM frames on), the crypto callbacks the library
// asks its host for, and its logger, whose lines go to the engine's Logger. Reaches below the
// API are quic-internals.ts's.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import QuicLogger, { Handler, LogLevel, type LogRecord } from '@matrixai/logger';
import type { Logger } from '../base/logger.ts';

// The signal stream carries small JSON frames (at most 64 KiB each) and media travels in
// DATAGRAM frames, which flow control does not cover: a few frames of window are plenty, and
// small windows bound what a peer that floods, or never reads, can park in our memory. One
// bidirectional stream is all a peer may open (the dialer's signal stream).
const SIGNAL_STREAM_WINDOW = 256 * 1024;

export function baseQuicConfig(idleTimeoutMs = 15000) {
  return {
    initialMaxData: 2 * SIGNAL_STREAM_WINDOW,
    initialMaxStreamDataBidiLocal: SIGNAL_STREAM_WINDOW,
    initialMaxStreamDataBidiRemote: SIGNAL_STREAM_WINDOW,
    initialMaxStreamDataUni: 0,
    initialMaxStreamsBidi: 1,
    initialMaxStreamsUni: 0,
    maxStreamWindow: 4 * SIGNAL_STREAM_WINDOW,
    maxConnectionWindow: 8 * SIGNAL_STREAM_WINDOW,
    maxIdleTimeout: idleTimeoutMs,
    keepAliveIntervalTime: Math.max(1000, Math.floor(idleTimeoutMs / 3)),
    enableDgram: [true, 1024, 1024] as [boolean, number, number],
    applicationProtos: ['wzp/1'],
    grease: false,
  };
}

function hmac(key: ArrayBuffer, data: ArrayBuffer): ArrayBuffer {
  const mac = createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest();
  return mac.buffer.slice(mac.byteOffset, mac.byteOffset + mac.byteLength);
}

/** The server's retry tokens: HMAC-SHA256 under a key made fresh for each endpoint. */
export function serverCrypto() {
  const retryKey = randomBytes(32);
  return {
    key: retryKey.buffer.slice(retryKey.byteOffset, retryKey.byteOffset + retryKey.byteLength),
    ops: {
      sign: async (key: ArrayBuffer, data: ArrayBuffer) => hmac(key, data),
      verify: async (key: ArrayBuffer, data: ArrayBuffer, sig: ArrayBuffer) => {
        const expected = Buffer.from(hmac(key, data));
        const given = Buffer.from(sig);
        return expected.length === given.length && timingSafeEqual(expected, given);
      },
    },
  };
}

export function clientCrypto() {
  return {
    ops: {
      randomBytes: async (buf: ArrayBuffer) => {
        new Uint8Array(buf).set(randomBytes(buf.byteLength));
      },
    },
  };
}

/** The library's lines, handed to our Logger as debug lines (and not built unless it wants them). */
class ForwardingHandler extends Handler {
  readonly #log: Logger;
  constructor(log: Logger) {
    super();
    this.#log = log;
  }
  override handle(record: LogRecord): void {
    this.#log.debug({ component: record.keys }, record.msg ?? '');
  }
  emit(): void {}
}

export function quicLogger(log: Logger): QuicLogger {
  const level = log.isLevelEnabled('debug') ? LogLevel.DEBUG : LogLevel.SILENT;
  return new QuicLogger('quic', level, [new ForwardingHandler(log)]);
}
