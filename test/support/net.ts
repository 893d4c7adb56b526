// Small network helpers for tests on loopback.
import dgram from 'node:dgram';

/** A UDP port on 127.0.0.1 that was free a moment ago (bind it soon). */
export async function freeUdpPort(): Promise<number> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const port = sock.address().port;
  await new Promise<void>((r) => sock.close(() => r()));
  return port;
}
