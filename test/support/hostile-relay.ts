// A hostile relay for attack tests: the real RelayServer with one hook (rewriteSignal) that plays
// games with the X25519 key shares it forwards. Run as its own process,
// `node --import tsx hostile-relay.ts MODE IDENTITY_FILE`; prints the `listening` JSON line
// `wzp relay --json` prints. Modes:
// - reflect: the callee's share, on its way to the caller, is replaced by the caller's own share;
// - replay: a share is replaced by the same party's share from the call before (the first call
//   goes through untouched, so that there is something to replay).
import { loadIdentity } from '../../src-main/engine/identity/identity.ts';
import { silentLogger } from '../../src-main/engine/base/logger.ts';
import { RelayServer } from '../../src-main/relay/relay-server.ts';
import type { CallSignal } from '../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';

const [mode, identityFile] = process.argv.slice(2);
if ((mode !== 'reflect' && mode !== 'replay') || !identityFile) {
  process.stderr.write('usage: hostile-relay.ts reflect|replay IDENTITY_FILE\n');
  process.exit(2);
}
type Share = Extract<CallSignal, { kind: 'key-share' }>;
/** The shares each party sent, per call, in the order calls began. */
const shares = new Map<string, Map<Fingerprint, Share>>();
let tampered = 0;

function rewrite(from: Fingerprint, to: Fingerprint, callId: string, signal: CallSignal) {
  if (signal.kind !== 'key-share') return signal;
  let call = shares.get(callId);
  if (!call) shares.set(callId, (call = new Map()));
  const earlier = [...shares.entries()].filter(([id]) => id !== callId);
  call.set(from, signal);
  if (mode === 'reflect') {
    const own = call.get(to);
    if (!own) return signal;
    tampered++;
    return own;
  }
  const before = earlier.at(-1)?.[1].get(from);
  if (!before) return signal;
  tampered++;
  return before;
}

process.on('unhandledRejection', () => undefined);
const relay = await RelayServer.start({
  identity: loadIdentity(identityFile),
  listen: { host: '127.0.0.1', port: 0 },
  stun: { host: '127.0.0.1', port: 0 },
  logger: silentLogger,
  rewriteSignal: rewrite,
});
process.on('SIGUSR1', () =>
  process.stdout.write(JSON.stringify({ event: 'health', tampered }) + '\n'),
);
process.on('SIGTERM', () => void relay.shutdown().then(() => process.exit(0)));
process.stdout.write(
  JSON.stringify({
    event: 'listening',
    quic: relay.quicAddress,
    stun: relay.stunAddress,
    fingerprint: relay.fingerprint,
  }) + '\n',
);
