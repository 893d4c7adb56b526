// `npm run bench -- cluster`: what a cluster of relays costs, each figure beside one relay in the
// same run. (1) Signaling latency, invite sent to ringing received, between two clients on two
// relays of a cluster (through a real nats-server) and between two clients on one of those
// relays, interleaved sample by sample. (2) Relayed-call capacity per relay core when the two
// parties of every call are on two relays joined by media trunks, beside one relay carrying
// both parties (the relay-capacity ladder, shared, interleaved step by step). Loopback only.
import type { BenchResult, BenchRow } from './bench-types.ts';
import { percentile } from './bench-types.ts';
import { measureCapacity } from './relay-capacity.bench.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { startCluster } from '../support/cluster-harness.ts';
import { nextLinkEvent, startClient, type TestClient } from '../support/relay-harness.ts';

const SAMPLES = 150;
const PACE_MS = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CAPACITY_BUDGET_MS = 60_000;

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** The callee side of a sample: rings at once on every invite. */
function autoRing(callee: TestClient): void {
  callee.link.on('signal', ({ from, callId, signal }) => {
    if (signal.kind === 'invite')
      void callee.link.sendSignal(from, callId, { kind: 'ringing' }).catch(() => undefined);
  });
}

async function inviteToRinging(caller: TestClient, callee: TestClient): Promise<number> {
  const callId = newCallId();
  const ringing = nextLinkEvent(
    caller.link,
    'signal',
    (s) => s.callId === callId && s.signal.kind === 'ringing',
    5000,
  );
  const t0 = performance.now();
  await caller.link.sendSignal(callee.identity.fingerprint, callId, {
    kind: 'invite',
    direct: true,
  });
  await ringing;
  const ms = performance.now() - t0;
  await caller.link.sendSignal(callee.identity.fingerprint, callId, {
    kind: 'hangup',
    reason: 'cancelled',
  });
  return ms;
}

async function signalingLatency(): Promise<{ cross: number[]; local: number[] }> {
  const cluster = await startCluster(['r1', 'r2']);
  const clients: TestClient[] = [];
  try {
    const r1 = cluster.relay('r1');
    const r2 = cluster.relay('r2');
    // Signals are rate-capped per identity (30/s): spread the samples over a few identities
    // and pace them, so the cap never shapes what is measured.
    const start = (r: typeof r1) => startClient(r).then((c) => (clients.push(c), c));
    const callers = await Promise.all([0, 1, 2, 3].map(() => start(r1)));
    const local = await Promise.all([0, 1].map(() => start(r1)));
    const remote = await Promise.all([0, 1].map(() => start(r2)));
    for (const c of [...local, ...remote]) autoRing(c);
    const out = { cross: [] as number[], local: [] as number[] };
    let n = 0;
    const sample = async (to: TestClient[], into: number[] | null) => {
      const t0 = performance.now();
      const ms = await inviteToRinging(
        callers[n % callers.length] as TestClient,
        to[n % to.length] as TestClient,
      );
      n++;
      into?.push(ms);
      await sleep(Math.max(0, PACE_MS - (performance.now() - t0)));
    };
    // Warm both paths (JIT, NATS subscriptions) before measuring.
    for (let i = 0; i < 10; i++) {
      await sample(local, null);
      await sample(remote, null);
    }
    for (let i = 0; i < SAMPLES; i++) {
      await sample(remote, out.cross);
      await sample(local, out.local);
    }
    return out;
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await cluster.stop();
  }
}

export async function run(): Promise<BenchResult> {
  const started = performance.now();
  const sig = await signalingLatency();
  const cap = await measureCapacity('cluster', 'relay', CAPACITY_BUDGET_MS);
  const cross = cap.best.cluster;
  const single = cap.best.relay;
  const singleAt = (calls: number) =>
    cap.steps.find((s) => s.mode === 'relay' && s.calls === calls);
  const table: BenchRow[] = [];
  for (const p of [50, 99]) {
    table.push({
      metric: `invite -> ringing across two relays, p${p}`,
      value: round(percentile(sig.cross, p)),
      unit: 'ms',
      baseline: round(percentile(sig.local, p)),
      baselineName: 'both clients on one relay',
    });
  }
  if (cross) {
    table.push({
      metric: 'cross-relay relayed calls per relay core',
      value: cross.callsPerCore,
      unit: 'calls',
      baseline: single?.callsPerCore,
      baselineName: 'both parties on one relay',
    });
    table.push({
      metric: 'cross-relay per-core capacity / one relay',
      value:
        single && single.callsPerCore > 0
          ? round(cross.callsPerCore / single.callsPerCore, 3)
          : Number.NaN,
      unit: 'ratio',
    });
    table.push({
      metric: `cross-relay p99 forwarding delay at ${cross.calls} calls`,
      value: cross.p99Ms,
      unit: 'ms',
      baseline: singleAt(cross.calls)?.p99Ms,
      baselineName: 'one relay, same load',
    });
  }
  return {
    table,
    details: {
      signaling: {
        samples: SAMPLES,
        note: 'in-process RelayLink clients; two wzp relay processes and one nats-server on loopback',
        crossMs: {
          p50: percentile(sig.cross, 50),
          p90: percentile(sig.cross, 90),
          p99: percentile(sig.cross, 99),
        },
        localMs: {
          p50: percentile(sig.local, 50),
          p90: percentile(sig.local, 90),
          p99: percentile(sig.local, 99),
        },
      },
      capacity: {
        note:
          'calls per core = calls / summed CPU fraction of the forwarder processes (two in the ' +
          'cluster mode, each carrying one party of every call and a trunk to the other)',
        crossIsLowerBound:
          cap.generatorLimited('cluster') || (cross !== undefined && !cap.firstFail.cluster),
        singleIsLowerBound:
          cap.generatorLimited('relay') || (single !== undefined && !cap.firstFail.relay),
        crossFirstFailure: cap.firstFail.cluster ?? null,
        singleFirstFailure: cap.firstFail.relay ?? null,
        steps: cap.steps,
      },
      elapsedS: round((performance.now() - started) / 1000, 1),
    },
  };
}
