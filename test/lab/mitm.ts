// A man in the middle for the lab: a QUIC endpoint with an identity of its own that accepts any
// handshake. The lab redirects the direct-path traffic between the two routers to it (DNAT in
// the public namespace), so a dialer meets this certificate instead of its peer's.
// Run: node --import tsx test/lab/mitm.ts --listen HOST:PORT; prints {"event":"listening",...}.
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { QuicEndpoint } from '../../src-main/engine/transport/endpoint.ts';
import { parseHostPort } from '../../src-shared/relay-protocol.ts';

const i = process.argv.indexOf('--listen');
const listen = i >= 0 ? parseHostPort(process.argv[i + 1] ?? '') : null;
if (!listen) {
  console.error('usage: mitm.ts --listen HOST:PORT');
  process.exit(2);
}
const identity = Identity.generate();
const endpoint = await QuicEndpoint.create({
  identity,
  host: listen.host,
  port: listen.port,
  parseAcceptedSignal: () => null,
  acceptPeer: () => true,
});
endpoint.on('connection', (c) =>
  console.log(JSON.stringify({ event: 'accepted', peer: c.peer.fingerprint })),
);
console.log(
  JSON.stringify({
    event: 'listening',
    fingerprint: identity.fingerprint,
    port: endpoint.address.port,
  }),
);
process.on('SIGTERM', () => void endpoint.close().then(() => process.exit(0)));
