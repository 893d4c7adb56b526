// A cluster for tests: one real `nats-server` and real `wzp relay --cluster … --name …` processes
// on loopback, started together, torn down together (in every outcome, by the test's `after`).
import { startRelay, type RunningRelay } from './relay-harness.ts';
import { startNats, type RunningNats } from './nats-server.ts';

export interface ClusterStatusView {
  name: string;
  link: 'up' | 'down';
  peers: { relay: string }[];
  peersSeen: number;
  directory: number;
}

export interface RunningCluster {
  nats: RunningNats;
  relays: Map<string, RunningRelay>;
  relay(name: string): RunningRelay;
  /** Starts one more relay in the cluster (or the same name again after a crash). */
  add(name: string, opts?: Parameters<typeof startRelay>[0]): Promise<RunningRelay>;
  stop(): Promise<void>;
}

export function clusterOf(m: Record<string, unknown>): ClusterStatusView {
  const c = m.cluster as ClusterStatusView | null;
  if (!c) throw new Error('relay reports no cluster');
  return c;
}

/** Polls the relay's health line until `ok` holds for its cluster view. */
export async function waitForCluster(
  relay: RunningRelay,
  ok: (c: ClusterStatusView) => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<ClusterStatusView> {
  const deadline = Date.now() + timeoutMs;
  let last: ClusterStatusView | null = null;
  while (Date.now() < deadline) {
    last = clusterOf(await relay.health());
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}; last cluster view ${JSON.stringify(last)}`);
}

/** Waits until the relay's log (stderr, written asynchronously) shows `re`. */
export async function waitForLog(
  relay: RunningRelay,
  re: RegExp,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!re.test(relay.proc.stderr)) {
    if (Date.now() > deadline) throw new Error(`no ${re} in the log: ${relay.proc.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function startCluster(names: readonly string[]): Promise<RunningCluster> {
  const nats = await startNats();
  const relays = new Map<string, RunningRelay>();
  const add = async (name: string, opts: Parameters<typeof startRelay>[0] = {}) => {
    const r = await startRelay({
      readyTimeoutMs: 60_000,
      ...opts,
      extraArgs: ['--cluster', nats.url, '--name', name, ...(opts.extraArgs ?? [])],
    });
    relays.set(name, r);
    return r;
  };
  const cluster: RunningCluster = {
    nats,
    relays,
    relay(name) {
      const r = relays.get(name);
      if (!r) throw new Error(`no relay ${name}`);
      return r;
    },
    add,
    async stop() {
      await Promise.all([...relays.values()].map((r) => r.stop().catch(() => undefined)));
      await nats.stop();
    },
  };
  try {
    // All settled before judging, so a relay still starting when another failed is stopped too.
    const started = await Promise.allSettled(names.map((n) => add(n)));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    for (const name of names) {
      await waitForCluster(
        cluster.relay(name),
        (c) => c.link === 'up' && c.peers.length === names.length - 1,
        `${name} to hear its ${names.length - 1} peers`,
      );
    }
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}
