// A registered identity that floods a relay's control plane with everything at once for a while
// and registers again whenever the relay cuts it off: run as its own process
// (`node --import tsx control-flooder.ts HOST PORT SECONDS TARGET_FP...`) so that the QUIC
// library's work on its behalf never delays the honest traffic a test measures in its own
// process. Prints one JSON line at the end: sessions registered, and how each one ended.
import { setTimeout as sleep } from 'node:timers/promises';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { encodeFrame } from '../../src-main/engine/transport/signal-framing.ts';
import { hostileClient, type HostileClient } from './hostile-quic.ts';

const [host = '127.0.0.1', portText = '0', secondsText = '20', ...targets] = process.argv.slice(2);
const port = Number(portText);
const endAt = Date.now() + Number(secondsText) * 1000;
const mallory = Identity.generate();
const stranger = () => Identity.generate().fingerprint;
const target = (i: number) => targets[i % Math.max(1, targets.length)] ?? stranger();
const watch = Array.from({ length: 1000 }, stranger);
// A valid signal padded with JSON whitespace to 60 kB: a big frame that parses.
const big = Buffer.from(
  JSON.stringify({
    t: 'signal',
    to: target(0),
    callId: newCallId(),
    signal: { kind: 'ringing' },
  }).replace(/}$/, ' '.repeat(60_000) + '}'),
);

let sessions = 0;
let rounds = 0;
/** Bytes of frames whose write completed: taken into the relay's stream window. */
let bytes = 0;
const ended: Record<string, number> = {};
let h: HostileClient | null = null;
while (Date.now() < endAt) {
  if (h === null || h.isClosed()) {
    if (h) {
      const r = h.closeReason() ?? 'closed';
      ended[r] = (ended[r] ?? 0) + 1;
      await h.destroy().catch(() => undefined);
      h = null;
    }
    h = await hostileClient(mallory, host, port).catch(() => null);
    if (h === null) {
      await sleep(100);
      continue;
    }
    if (
      !(await h.register().then(
        () => true,
        () => false,
      ))
    ) {
      await sleep(100);
      continue;
    }
    sessions++;
  }
  const c = h;
  const json = async (v: unknown) => {
    const f = encodeFrame(Buffer.from(JSON.stringify(v)));
    await c.write(f);
    bytes += f.length;
  };
  // A round of everything, each write waited for, so that it is the relay's flow control that
  // paces this client: presence of 1,000 identities, invites to strangers and to the targets, a
  // 60 kB frame, a burst of call signals.
  const round = async () => {
    await json({ t: 'subscribe', fingerprints: watch });
    for (let i = 0; i < 10; i++)
      await json({
        t: 'signal',
        to: i % 2 ? target(i) : stranger(),
        callId: newCallId(),
        signal: { kind: 'invite', direct: false },
      });
    await c.write(encodeFrame(big));
    bytes += big.length + 4;
    for (let i = 0; i < 20; i++)
      await json({
        t: 'signal',
        to: target(i),
        callId: newCallId(),
        signal: { kind: 'ringing' },
      });
    rounds++;
  };
  // A round stuck behind flow control is left pending; the connection's end settles it.
  await Promise.race([
    round().catch(() => undefined),
    c.closed,
    sleep(Math.max(0, endAt - Date.now())),
  ]);
}
if (h) {
  if (h.isClosed()) {
    const r = h.closeReason() ?? 'closed';
    ended[r] = (ended[r] ?? 0) + 1;
  } else ended['still open at the end'] = 1;
  await h.destroy().catch(() => undefined);
}
process.stdout.write(
  JSON.stringify({ fingerprint: mallory.fingerprint, sessions, rounds, bytes, ended }) + '\n',
);
process.exit(0);
