// Transport figures (issue 2): the identity-pinned QUIC handshake, median of 20 on loopback,
// beside a mutual-TLS 1.3 handshake over TCP with the same Ed25519 certificates (node:tls); and
// one-way media-frame delivery over QUIC DATAGRAM frames beside a plain UDP echo, both measured
// as half the echo round trip of 120-byte frames.
import dgram from 'node:dgram';
import tls from 'node:tls';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { tlsCredentialsFor } from '../../src-main/engine/identity/certificate.ts';
import { QuicEndpoint } from '../../src-main/engine/transport/endpoint.ts';
import { percentile, type BenchResult } from './bench-types.ts';

const HANDSHAKES = 20;
const ECHOES = 500;
const FRAME = 120;

async function quicHandshakes(): Promise<number[]> {
  const a = Identity.generate();
  const b = Identity.generate();
  const server = await QuicEndpoint.create({
    identity: a,
    host: '127.0.0.1',
    parseAcceptedSignal: () => null,
    acceptPeer: () => true,
  });
  const client = await QuicEndpoint.create({
    identity: b,
    host: '127.0.0.1',
    parseAcceptedSignal: () => null,
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < HANDSHAKES + 2; i++) {
      const t0 = performance.now();
      const c = await client.dial({
        host: '127.0.0.1',
        port: server.address.port,
        expect: { fingerprint: a.fingerprint },
        parseSignal: () => null,
      });
      const dt = performance.now() - t0;
      if (i >= 2) times.push(dt); // the first two warm up JIT and certificate caches
      await c.close();
    }
  } finally {
    await client.close();
    await server.close();
  }
  return times;
}

async function tlsHandshakes(): Promise<number[]> {
  const [a, b] = await Promise.all([
    tlsCredentialsFor(Identity.generate()),
    tlsCredentialsFor(Identity.generate()),
  ]);
  const server = tls.createServer(
    {
      key: a.keyPem,
      cert: a.certPem,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
    },
    (s) => {
      s.on('error', () => undefined);
      s.end('x');
    },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const times: number[] = [];
  try {
    for (let i = 0; i < HANDSHAKES + 2; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const s = tls.connect({
          host: '127.0.0.1',
          port,
          key: b.keyPem,
          cert: b.certPem,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.3',
        });
        s.once('data', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
      const dt = performance.now() - t0;
      if (i >= 2) times.push(dt);
    }
  } finally {
    server.close();
  }
  return times;
}

async function quicDatagramOneWay(): Promise<number[]> {
  const a = Identity.generate();
  const b = Identity.generate();
  const server = await QuicEndpoint.create({
    identity: a,
    host: '127.0.0.1',
    parseAcceptedSignal: () => null,
    acceptPeer: () => true,
    pingIntervalMs: 0,
  });
  const client = await QuicEndpoint.create({
    identity: b,
    host: '127.0.0.1',
    parseAcceptedSignal: () => null,
    pingIntervalMs: 0,
  });
  server.on('connection', (conn) => conn.on('media', (m) => void conn.sendMedia(m)));
  const conn = await client.dial({
    host: '127.0.0.1',
    port: server.address.port,
    expect: { fingerprint: a.fingerprint },
    parseSignal: () => null,
    pingIntervalMs: 0,
  });
  const samples: number[] = [];
  try {
    const frame = new Uint8Array(FRAME);
    for (let i = 0; i < ECHOES; i++) {
      const t0 = performance.now();
      const back = new Promise<void>((r) => {
        const off = conn.on('media', () => {
          off();
          r();
        });
      });
      await conn.sendMedia(frame);
      await back;
      samples.push((performance.now() - t0) / 2);
      if (i % 50 === 0) await new Promise((r) => setTimeout(r, 1));
    }
  } finally {
    await conn.close();
    await client.close();
    await server.close();
  }
  return samples;
}

async function udpOneWay(): Promise<number[]> {
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const samples: number[] = [];
  try {
    const frame = Buffer.alloc(FRAME);
    for (let i = 0; i < ECHOES; i++) {
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        sock.once('message', () => resolve());
        sock.send(frame, echo.address().port, '127.0.0.1');
      });
      samples.push((performance.now() - t0) / 2);
    }
  } finally {
    sock.close();
    echo.close();
  }
  return samples;
}

export async function run(): Promise<BenchResult> {
  const quicHs = await quicHandshakes();
  const tlsHs = await tlsHandshakes();
  const dgramOw = await quicDatagramOneWay();
  const udpOw = await udpOneWay();
  const med = (v: number[]) => Number(percentile(v, 50).toFixed(3));
  const p99 = (v: number[]) => Number(percentile(v, 99).toFixed(3));
  return {
    table: [
      {
        metric: 'handshake median (QUIC mutual TLS + hello)',
        value: med(quicHs),
        unit: 'ms',
        baseline: med(tlsHs),
        baselineName: 'TLS 1.3 over TCP, same certs',
      },
      {
        metric: 'media frame one-way median (DATAGRAM)',
        value: med(dgramOw),
        unit: 'ms',
        baseline: med(udpOw),
        baselineName: 'plain UDP echo',
      },
      {
        metric: 'media frame one-way p99 (DATAGRAM)',
        value: p99(dgramOw),
        unit: 'ms',
        baseline: p99(udpOw),
        baselineName: 'plain UDP echo',
      },
    ],
    details: {
      handshakes: HANDSHAKES,
      echoes: ECHOES,
      frameBytes: FRAME,
      quicHandshakeMs: { median: med(quicHs), p90: Number(percentile(quicHs, 90).toFixed(3)) },
      tlsTcpHandshakeMs: { median: med(tlsHs), p90: Number(percentile(tlsHs, 90).toFixed(3)) },
      datagramOneWayMs: { median: med(dgramOw), p99: p99(dgramOw) },
      udpOneWayMs: { median: med(udpOw), p99: p99(udpOw) },
    },
  };
}
