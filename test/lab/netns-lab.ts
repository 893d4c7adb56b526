// The network-namespace NAT lab (DESIGN.md "The NAT lab"): builds a topology from
// topologies.ts out of `ip netns`, veth pairs and iptables, runs processes inside it, cuts and
// restores the direct path between clients, and tears everything down in every outcome (destroy,
// process exit, SIGINT/SIGTERM/SIGHUP, and a sweep of namespaces left by a run that was killed).
// Needs root. Never touches the root namespace's links, routes or iptables: every link is created
// inside a lab namespace, and the lab has no link to the host, so nothing it sends can leave it.
//
// Address plan (side i = 1, 2, ... in the spec's order; clients are named a, b, c, ... in order):
//
//   pub  (ip_forward=1; the "internet", a router between the sides)
//     lo:  198.18.0.1/32  relay / STUN host          (RELAY_IP)
//          198.18.0.2/32  a second public host        (ALT_PUBLIC_IP)
//     s<i>: 198.18.<i>.1/24, route 198.18.<i>.0/24 src 198.18.0.1 (so an unbound server
//           answers from the relay address, not from the link address)
//   public side i:   client eth0 198.18.<i>.2/24, default via 198.18.<i>.1 (wanIp = lanIp)
//   NAT side i with layers k = 0 (outermost) .. L-1:
//     router r<i> (k=0)     wan 198.18.<i>.2/24 via 198.18.<i>.1; lan 10.<i>.0.1/24
//     router r<i>-<k+1>     wan 10.<i>.<k-1>.2/24 via 10.<i>.<k-1>.1; lan 10.<i>.<k>.1/24
//     clients behind the innermost layer: 10.<i>.<L-1>.2, .3, ... (several clients share a
//     bridge `lan` in the router), default via 10.<i>.<L-1>.1; wanIp = 198.18.<i>.2
//   Every router: ip_forward=1, `-t nat -A POSTROUTING -o wan -j MASQUERADE [--random-fully]`,
//   plus the layer's firewall rules (see NatLayer). rp_filter is 0 and IPv6 is off on every lab
//   link (lo keeps ::1). Each lab is new namespaces, so conntrack starts empty.
//
//   e.g. cone-cone:      a 10.1.0.2 -> r1 (198.18.1.2) -> pub (198.18.0.1) <- r2 (198.18.2.2) <- b 10.2.0.2
//        public-cone:    a 198.18.1.2 -> pub <- r2 (198.18.2.2) <- b 10.2.0.2
//        same-nat:       a 10.1.0.2, b 10.1.0.3 -> r1 (198.18.1.2) -> pub
//        double-cone:    a 10.1.1.2 -> r1-2 (10.1.0.2) -> r1 (198.18.1.2) -> pub <- ... <- b 10.2.1.2
//
// Routed topologies (topologies.ts `transit`, `relayHops`):
//   side i with T transit routers t<i>-1 (next to pub) .. t<i>-T: link j (0..T-1) joins pub (j=0,
//     dev s<i>) or t<i>-j (dev dnl) to t<i>-(j+1) (dev up) on 198.19.<16i+j>.1/.2 /24; the last
//     link (from t<i>-T's down, or pub's s<i>) carries 198.18.<i>.1/.2 as above.
//   relayHops R > 0: the relay host moves from pub to namespace `relay` (lo 198.18.0.1/32), at the
//     end of routers h1 .. hR; link j (0..R) joins pub (dev rl) or h<j> (dev dnl) to h<j+1> or
//     the relay (dev upl / eth0) on 198.19.<200+j>.1/.2 /24. 198.18.0.2 stays on pub.
//
// Namespaces are named `wzl-<pid>-<n>-<role>` (role: pub, a, b, r1, r1-2, ...); interfaces inside
// have fixed short names (wan, lan, lan<j>, eth0, s<i>), which is fine because each namespace
// has its own. The pid in the name is how a later run recognises a dead run's leftovers.
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions, StdioOptions } from 'node:child_process';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import {
  ALT_PUBLIC_IP,
  RELAY_IP,
  SCENARIOS,
  isScenarioName,
  validateTopology,
} from './topologies.ts';
import type { NatLayer, ScenarioName, TopologySpec } from './topologies.ts';

export { ALT_PUBLIC_IP, RELAY_IP } from './topologies.ts';

export const NS_PREFIX = 'wzl';

export interface LabClient {
  /** 'a', 'b', ... in the spec's order. */
  name: string;
  ns: string;
  /** The client's own address (on eth0). */
  lanIp: string;
  /** Its default gateway (the innermost router, or the public namespace). */
  gateway: string;
  /** The address the public namespace sees it as: the outermost router's WAN, or lanIp. */
  wanIp: string;
  behindNat: boolean;
  /** 1-based index of its side in the topology. */
  side: number;
}

export interface LabRouter {
  /** 'r1' (outermost of side 1), 'r1-2' (second layer of side 1), ... */
  name: string;
  ns: string;
  side: number;
  /** 0 = outermost. */
  layer: number;
  wanIp: string;
  lanIp: string;
  nat: NatLayer;
  /** Clients directly on this router's LAN (empty for an outer layer of a double NAT). */
  clients: string[];
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  stdio?: StdioOptions;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** SIGKILLs the process after this long; the result then has signal 'SIGKILL'. */
  timeoutMs?: number;
}

export interface UdpTarget {
  host: string;
  port: number;
}

export interface UdpProbeOptions {
  /** Targets are probed in parallel from one socket (so all share one NAT mapping or not). */
  targets: readonly UdpTarget[];
  bindHost?: string;
  bindPort?: number;
  /** Give up on a target after this long (default 1000 ms). */
  timeoutMs?: number;
  /** Resend interval until a reply arrives (default 100 ms). */
  retryMs?: number;
  /** IP TTL of the probe datagrams. */
  ttl?: number;
}

export interface UdpProbeResult {
  /** The probe socket's local address, "ip:port". */
  local: string;
  /** One per target, in order: the source the echo server saw ("ip:port"), or null if no reply. */
  seen: (string | null)[];
}

export interface UdpEcho {
  /** "ip:port" it is bound to. */
  address: string;
  /** Sources of every datagram it received so far, "ip:port", in arrival order. */
  received: string[];
  stop(): Promise<void>;
}

export interface Lab {
  scenario: string;
  topology: TopologySpec;
  /** Every namespace of this lab starts with this. */
  prefix: string;
  /**
   * The core. `relayNs` is where the relay host (RELAY_IP) lives: `ns` itself, or the end of a
   * chain of `relayHops` routers off the core (the topology's relayHops).
   */
  public: { ns: string; ip: string; altIp: string; relayNs: string };
  clients: LabClient[];
  routers: LabRouter[];
  client(name: string): LabClient;
  router(name: string): LabRouter;
  namespaces(): string[];
  /** Spawns `cmd args` inside `ns` (via `ip netns exec`, which execs it: pid is the command's). */
  exec(ns: string, cmd: string, args: readonly string[], opts?: ExecOptions): ChildProcess;
  run(ns: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Runs this Node with tsx loaded (`node --import tsx ...args`) inside `ns`. */
  spawnNode(ns: string, args: readonly string[], opts?: ExecOptions): ChildProcess;
  /** Starts a UDP echo server in `ns`; each reply is JSON `{seen: "ip:port", echo}`. */
  udpEcho(ns: string, host: string, port: number): Promise<UdpEcho>;
  /** Sends from one socket in `ns` to each target and reports what the echo servers saw. */
  udpProbe(ns: string, opts: UdpProbeOptions): Promise<UdpProbeResult>;
  /**
   * Cuts UDP between two clients (default the first two) in both directions, whatever path it
   * takes (NAT'd WAN or shared LAN), leaving their paths to the public hosts alone. Done by
   * dropping in each client's INPUT chain: a drop on the sending side's OUTPUT would surface as
   * EPERM in the application, which no real network does.
   */
  blockUdpBetweenClients(a?: string, b?: string): Promise<void>;
  /** Lifts every cut made by blockUdpBetweenClients. */
  unblockUdpBetweenClients(): Promise<void>;
  destroy(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Commands

function sh(cmd: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      } else {
        resolve(stdout);
      }
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

const ip = (...args: string[]): Promise<string> => sh('ip', args);
const nsExec = (ns: string, cmd: string, args: readonly string[], input?: string) =>
  sh('ip', ['netns', 'exec', ns, cmd, ...args], input);
const sysctl = (ns: string, settings: readonly string[]) =>
  nsExec(ns, 'sysctl', ['-q', '-w', ...settings]);

function listNamespaces(): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Names of every namespace on the machine that this module could have made. */
export function listLabNamespaces(): string[] {
  return listNamespaces().filter((n) => n.startsWith(`${NS_PREFIX}-`));
}

function killPidsInNamespaceSync(ns: string): void {
  let out = '';
  try {
    out = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  } catch {
    return;
  }
  for (const p of out.split(/\s+/)) {
    const pid = Number(p);
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

function deleteNamespacesSync(names: readonly string[]): void {
  const existing = new Set(listNamespaces());
  for (const ns of names) {
    if (!existing.has(ns)) continue;
    killPidsInNamespaceSync(ns);
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // reported by whoever lists namespaces afterwards
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Deletes lab namespaces whose creating process is dead (a run killed with SIGKILL, a crash),
 * killing any process still inside them. Returns the names it removed.
 */
export function sweepStaleLabs(): string[] {
  const stale = listLabNamespaces().filter((ns) => {
    const m = /^wzl-(\d+)-\d+-/.exec(ns);
    const pid = Number(m?.[1]);
    return m !== null && pid !== process.pid && !pidAlive(pid);
  });
  deleteNamespacesSync(stale);
  return stale;
}

// ---------------------------------------------------------------------------------------------
// Teardown in every outcome

interface LiveLab {
  namespaces: string[];
  children: Set<ChildProcess>;
}

const live = new Set<LiveLab>();
let hooksInstalled = false;
let swept = false;

function destroyAllSync(): void {
  for (const l of live) {
    for (const c of l.children) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    deleteNamespacesSync(l.namespaces);
  }
  live.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', destroyAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      destroyAllSync();
      // The listener is gone now: re-raising gives the signal's default effect (exit by signal).
      process.kill(process.pid, sig);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Small UDP tools run inside namespaces as plain Node scripts (no tsx: they start in ~50 ms)

const ECHO_SCRIPT = `
const dgram = require('node:dgram');
const host = process.argv[1], port = Number(process.argv[2]);
const s = dgram.createSocket('udp4');
s.on('message', (msg, r) => {
  const seen = r.address + ':' + r.port;
  process.stdout.write(JSON.stringify({ event: 'rx', from: seen }) + '\\n');
  s.send(JSON.stringify({ seen, echo: msg.toString('utf8').slice(0, 200) }), r.port, r.address, () => {});
});
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
s.bind(port, host, () => {
  const a = s.address();
  process.stdout.write(JSON.stringify({ event: 'listening', address: a.address + ':' + a.port }) + '\\n');
});
`;

const PROBE_SCRIPT = `
const dgram = require('node:dgram');
const o = JSON.parse(process.argv[1]);
const s = dgram.createSocket('udp4');
const seen = o.targets.map(() => null);
const nonces = o.targets.map((_, i) => i + '-' + Math.random().toString(36).slice(2));
let left = o.targets.length, timer, deadline;
function finish() {
  clearInterval(timer); clearTimeout(deadline);
  const a = s.address();
  process.stdout.write(JSON.stringify({ local: a.address + ':' + a.port, seen }) + '\\n');
  s.close();
}
function sendAll() {
  o.targets.forEach((t, i) => { if (seen[i] === null) s.send(nonces[i], t.port, t.host, () => {}); });
}
s.on('message', (msg) => {
  let r; try { r = JSON.parse(msg.toString('utf8')); } catch { return; }
  const i = nonces.indexOf(r && r.echo);
  if (i < 0 || seen[i] !== null || typeof r.seen !== 'string') return;
  seen[i] = r.seen;
  if (--left === 0) finish();
});
s.on('error', (e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
s.bind(o.bindPort, o.bindHost, () => {
  if (o.ttl !== undefined) s.setTTL(o.ttl);
  if (left === 0) return finish();
  sendAll();
  timer = setInterval(sendAll, o.retryMs);
  deadline = setTimeout(finish, o.timeoutMs);
});
`;

const echoLineSchema = z.discriminatedUnion('event', [
  z.object({ event: z.literal('listening'), address: z.string() }),
  z.object({ event: z.literal('rx'), from: z.string() }),
]);

const probeOutputSchema = z.object({
  local: z.string(),
  seen: z.array(z.string().nullable()),
});

// ---------------------------------------------------------------------------------------------
// Building

let labCounter = 0;
const TSX_LOADER = import.meta.resolve('tsx');

interface PlannedClient extends LabClient {
  /** Where its eth0's peer lives and what that end is called. */
  upstreamNs: string;
  upstreamIf: string;
}

function natRules(layer: NatLayer): string {
  const lines = [
    '*nat',
    `-A POSTROUTING -o wan -j MASQUERADE${layer.mapping === 'endpoint-dependent' ? ' --random-fully' : ''}`,
    'COMMIT',
    '*filter',
  ];
  if (layer.udpOnlyTo !== undefined) {
    for (const host of layer.udpOnlyTo) {
      lines.push(`-A FORWARD -o wan -p udp -d ${host} -j ACCEPT`);
      lines.push(`-A FORWARD -i wan -p udp -s ${host} -j ACCEPT`);
      lines.push(`-A INPUT -i wan -p udp -s ${host} -j ACCEPT`);
    }
    lines.push('-A FORWARD -o wan -p udp -j DROP');
    lines.push('-A FORWARD -i wan -p udp -j DROP');
    lines.push('-A INPUT -i wan -p udp -j DROP');
  }
  if (layer.wanFirewall) {
    for (const chain of ['INPUT', 'FORWARD']) {
      lines.push(`-A ${chain} -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`);
      lines.push(`-A ${chain} -i wan -j DROP`);
    }
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

const CUT_CHAIN = 'WZL_CUT';

/** Builds a lab for a named scenario or a custom spec. Needs root. */
export async function buildLab(scenario: ScenarioName | TopologySpec): Promise<Lab> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('the NAT lab needs root (ip netns, iptables)');
  }
  let spec: TopologySpec;
  if (typeof scenario === 'string') {
    if (!isScenarioName(scenario)) throw new Error(`unknown scenario "${String(scenario)}"`);
    spec = SCENARIOS[scenario];
  } else {
    spec = scenario;
  }
  validateTopology(spec);
  if (!swept) {
    swept = true;
    sweepStaleLabs();
  }
  installHooks();

  const prefix = `${NS_PREFIX}-${process.pid}-${labCounter++}`;
  const state: LiveLab = { namespaces: [], children: new Set() };
  live.add(state);

  const pubNs = `${prefix}-pub`;
  const clients: PlannedClient[] = [];
  const routers: LabRouter[] = [];
  spec.sides.forEach((side, si) => {
    const i = si + 1;
    const wanIp = `198.18.${i}.2`;
    if (side.nat.length === 0) {
      const name = String.fromCharCode(97 + clients.length);
      clients.push({
        name,
        ns: `${prefix}-${name}`,
        lanIp: wanIp,
        gateway: `198.18.${i}.1`,
        wanIp,
        behindNat: false,
        side: i,
        upstreamNs: pubNs,
        upstreamIf: `s${i}`,
      });
      return;
    }
    side.nat.forEach((nat, k) => {
      const last = k === side.nat.length - 1;
      const r: LabRouter = {
        name: k === 0 ? `r${i}` : `r${i}-${k + 1}`,
        ns: k === 0 ? `${prefix}-r${i}` : `${prefix}-r${i}-${k + 1}`,
        side: i,
        layer: k,
        wanIp: k === 0 ? wanIp : `10.${i}.${k - 1}.2`,
        lanIp: `10.${i}.${k}.1`,
        nat,
        clients: [],
      };
      routers.push(r);
      if (!last) return;
      for (let j = 0; j < side.clients; j++) {
        const name = String.fromCharCode(97 + clients.length);
        r.clients.push(name);
        clients.push({
          name,
          ns: `${prefix}-${name}`,
          lanIp: `10.${i}.${k}.${2 + j}`,
          gateway: r.lanIp,
          wanIp,
          behindNat: true,
          side: i,
          upstreamNs: r.ns,
          upstreamIf: side.clients === 1 ? 'lan' : `lan${j}`,
        });
      }
    });
  });

  const relayHops = spec.relayHops ?? 0;
  const relayNs = relayHops > 0 ? `${prefix}-relay` : pubNs;
  const transitNs = (i: number, j: number) => `${prefix}-t${i}-${j}`;
  const hopNs = (j: number) => `${prefix}-h${j}`;
  const forwarders: string[] = [];
  spec.sides.forEach((side, si) => {
    for (let j = 1; j <= (side.transit ?? 0); j++) forwarders.push(transitNs(si + 1, j));
  });
  for (let j = 1; j <= relayHops; j++) forwarders.push(hopNs(j));
  const allNs = [
    pubNs,
    ...forwarders,
    ...(relayHops > 0 ? [relayNs] : []),
    ...routers.map((r) => r.ns),
    ...clients.map((c) => c.ns),
  ];
  const cuts = new Set<string>();
  let destroyed = false;

  const exec = (ns: string, cmd: string, args: readonly string[], opts: ExecOptions = {}) => {
    if (destroyed) throw new Error('lab already destroyed');
    const spawnOpts: SpawnOptions = { stdio: opts.stdio ?? 'pipe' };
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
    if (opts.env !== undefined) spawnOpts.env = opts.env;
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], spawnOpts);
    state.children.add(child);
    child.once('exit', () => state.children.delete(child));
    child.once('error', () => state.children.delete(child));
    return child;
  };

  const run = (ns: string, cmd: string, args: readonly string[], opts: RunOptions = {}) =>
    new Promise<RunResult>((resolve, reject) => {
      const execOpts: ExecOptions = {};
      if (opts.cwd !== undefined) execOpts.cwd = opts.cwd;
      if (opts.env !== undefined) execOpts.env = opts.env;
      const child = exec(ns, cmd, args, execOpts);
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
      child.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      // A command that exits without reading its input must not fail the caller with EPIPE.
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(opts.input ?? '');
    });

  const spawnNode = (ns: string, args: readonly string[], opts: ExecOptions = {}) =>
    exec(ns, process.execPath, ['--import', TSX_LOADER, ...args], opts);

  const udpEcho = (ns: string, host: string, port: number) =>
    new Promise<UdpEcho>((resolve, reject) => {
      const child = exec(ns, process.execPath, ['-e', ECHO_SCRIPT, host, String(port)]);
      const received: string[] = [];
      let stderr = '';
      let settled = false;
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<void>((r) => child.once('close', () => r()));
      void exited.then(() => {
        if (!settled) {
          settled = true;
          reject(new Error(`udp echo ${host}:${port} in ${ns} exited: ${stderr.trim()}`));
        }
      });
      const stdout = child.stdout;
      if (stdout === null) throw new Error('no stdout');
      createInterface({ input: stdout }).on('line', (line) => {
        let parsed: z.infer<typeof echoLineSchema>;
        try {
          parsed = echoLineSchema.parse(JSON.parse(line));
        } catch {
          return;
        }
        if (parsed.event === 'rx') {
          received.push(parsed.from);
        } else if (!settled) {
          settled = true;
          resolve({
            address: parsed.address,
            received,
            stop: async () => {
              if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
              await exited;
            },
          });
        }
      });
    });

  const udpProbe = async (ns: string, o: UdpProbeOptions): Promise<UdpProbeResult> => {
    const timeoutMs = o.timeoutMs ?? 1000;
    const cfg = {
      targets: o.targets.map((t) => ({ host: t.host, port: t.port })),
      bindHost: o.bindHost ?? '0.0.0.0',
      bindPort: o.bindPort ?? 0,
      timeoutMs,
      retryMs: o.retryMs ?? 100,
      ttl: o.ttl,
    };
    const r = await run(ns, process.execPath, ['-e', PROBE_SCRIPT, JSON.stringify(cfg)], {
      timeoutMs: timeoutMs + 10_000,
    });
    if (r.code !== 0)
      throw new Error(`udp probe in ${ns} failed (${r.code ?? r.signal}): ${r.stderr.trim()}`);
    const out = probeOutputSchema.parse(JSON.parse(r.stdout));
    if (out.seen.length !== o.targets.length) throw new Error('udp probe: result count mismatch');
    return out;
  };

  const byName = <T extends { name: string }>(
    list: readonly T[],
    name: string,
    what: string,
  ): T => {
    const found = list.find((x) => x.name === name);
    if (found === undefined) throw new Error(`no ${what} "${name}" in this lab`);
    return found;
  };

  const applyCuts = async () => {
    for (const c of clients) {
      const lines = ['*filter', `-F ${CUT_CHAIN}`];
      const drop = new Set<string>();
      for (const pair of cuts) {
        const [x, y] = pair.split('|');
        const peer = x === c.name ? y : y === c.name ? x : undefined;
        if (peer === undefined) continue;
        const p = byName(clients, peer, 'client');
        for (const addr of [p.lanIp, p.wanIp]) if (addr !== c.lanIp) drop.add(addr);
      }
      for (const addr of drop) lines.push(`-A ${CUT_CHAIN} -p udp -s ${addr} -j DROP`);
      lines.push('COMMIT', '');
      await nsExec(c.ns, 'iptables-restore', ['--noflush'], lines.join('\n'));
    }
  };

  const destroy = async () => {
    if (destroyed) return;
    destroyed = true;
    const children = [...state.children];
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    }
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            const t = setTimeout(() => {
              c.kill('SIGKILL');
              r();
            }, 1000);
            c.once('exit', () => {
              clearTimeout(t);
              r();
            });
          }),
      ),
    );
    deleteNamespacesSync(state.namespaces);
    live.delete(state);
    const left = listNamespaces().filter((n) => state.namespaces.includes(n));
    if (left.length > 0) throw new Error(`lab teardown left namespaces: ${left.join(' ')}`);
  };

  try {
    // Namespaces first (links are created with their peer end inside another namespace).
    for (const ns of allNs) {
      await ip('netns', 'add', ns);
      state.namespaces.push(ns);
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      const isRouter = ns === pubNs || forwarders.includes(ns) || routers.some((r) => r.ns === ns);
      await sysctl(ns, [
        `net.ipv4.ip_forward=${isRouter ? 1 : 0}`,
        'net.ipv4.conf.all.rp_filter=0',
        'net.ipv4.conf.default.rp_filter=0',
        'net.ipv6.conf.default.disable_ipv6=1',
      ]);
    }

    const veth = (ns1: string, if1: string, ns2: string, if2: string) =>
      ip('-n', ns1, 'link', 'add', if1, 'type', 'veth', 'peer', 'name', if2, 'netns', ns2);
    const up = async (ns: string, dev: string, cidr: string) => {
      await ip('-n', ns, 'addr', 'add', cidr, 'dev', dev);
      await ip('-n', ns, 'link', 'set', dev, 'up');
    };
    if (relayHops === 0) await ip('-n', pubNs, 'addr', 'add', `${RELAY_IP}/32`, 'dev', 'lo');
    await ip('-n', pubNs, 'addr', 'add', `${ALT_PUBLIC_IP}/32`, 'dev', 'lo');
    for (let si = 0; si < spec.sides.length; si++) {
      const i = si + 1;
      const transit = spec.sides[si]?.transit ?? 0;
      // The chain of plain ISP routers from the core out to the side's last link.
      for (let j = 0; j < transit; j++) {
        const upNs = j === 0 ? pubNs : transitNs(i, j);
        const upIf = j === 0 ? `s${i}` : 'dnl';
        const net = `198.19.${16 * i + j}`;
        await veth(upNs, upIf, transitNs(i, j + 1), 'upl');
        await up(upNs, upIf, `${net}.1/24`);
        await up(transitNs(i, j + 1), 'upl', `${net}.2/24`);
        await ip('-n', transitNs(i, j + 1), 'route', 'add', 'default', 'via', `${net}.1`);
        if (j === 0) {
          const route = ['-n', pubNs, 'route', 'replace', `198.18.${i}.0/24`, 'via', `${net}.2`];
          await ip(...route, ...(relayHops === 0 ? ['src', RELAY_IP] : []));
        } else {
          await ip('-n', transitNs(i, j), 'route', 'add', `198.18.${i}.0/24`, 'via', `${net}.2`);
        }
      }
      const lastNs = transit === 0 ? pubNs : transitNs(i, transit);
      const dev = transit === 0 ? `s${i}` : 'dnl';
      const outer = routers.find((r) => r.side === i && r.layer === 0);
      const peerNs = outer?.ns ?? clients.find((c) => c.side === i)?.ns;
      if (peerNs === undefined) throw new Error(`side ${i} has nothing to attach`);
      await veth(lastNs, dev, peerNs, outer ? 'wan' : 'eth0');
      await up(lastNs, dev, `198.18.${i}.1/24`);
      if (transit === 0) {
        const route = ['-n', pubNs, 'route', 'replace', `198.18.${i}.0/24`, 'dev', dev];
        await ip(...route, ...(relayHops === 0 ? ['src', RELAY_IP] : []));
      }
    }
    // The relay across a backbone: h1 .. hR, then the relay host.
    for (let j = 0; j <= relayHops && relayHops > 0; j++) {
      const upNs = j === 0 ? pubNs : hopNs(j);
      const upIf = j === 0 ? 'rl' : 'dnl';
      const downNs = j === relayHops ? relayNs : hopNs(j + 1);
      const downIf = j === relayHops ? 'eth0' : 'upl';
      const net = `198.19.${200 + j}`;
      await veth(upNs, upIf, downNs, downIf);
      await up(upNs, upIf, `${net}.1/24`);
      await up(downNs, downIf, `${net}.2/24`);
      await ip('-n', downNs, 'route', 'add', 'default', 'via', `${net}.1`);
      await ip('-n', upNs, 'route', 'add', `${RELAY_IP}/32`, 'via', `${net}.2`);
    }
    if (relayHops > 0) await ip('-n', relayNs, 'addr', 'add', `${RELAY_IP}/32`, 'dev', 'lo');

    for (const r of routers) {
      const inner = routers.find((x) => x.side === r.side && x.layer === r.layer + 1);
      const gw = r.layer === 0 ? `198.18.${r.side}.1` : `10.${r.side}.${r.layer - 1}.1`;
      await ip('-n', r.ns, 'addr', 'add', `${r.wanIp}/24`, 'dev', 'wan');
      await ip('-n', r.ns, 'link', 'set', 'wan', 'up');
      await ip('-n', r.ns, 'route', 'add', 'default', 'via', gw);
      if (inner !== undefined) {
        await ip(
          '-n',
          r.ns,
          'link',
          'add',
          'lan',
          'type',
          'veth',
          'peer',
          'name',
          'wan',
          'netns',
          inner.ns,
        );
      } else {
        const lanClients = clients.filter((c) => c.upstreamNs === r.ns);
        const only = lanClients.length === 1 ? lanClients[0] : undefined;
        if (only !== undefined) {
          await ip(
            '-n',
            r.ns,
            'link',
            'add',
            'lan',
            'type',
            'veth',
            'peer',
            'name',
            'eth0',
            'netns',
            only.ns,
          );
        } else {
          await ip('-n', r.ns, 'link', 'add', 'lan', 'type', 'bridge');
          // Bridged LAN traffic must not traverse the router's iptables (br_netfilter may be loaded).
          await nsExec(r.ns, 'sh', [
            '-c',
            'for f in /proc/sys/net/bridge/bridge-nf-call-ip*tables; do [ -e "$f" ] && echo 0 > "$f"; done; true',
          ]);
          for (const c of lanClients) {
            await ip(
              '-n',
              r.ns,
              'link',
              'add',
              c.upstreamIf,
              'type',
              'veth',
              'peer',
              'name',
              'eth0',
              'netns',
              c.ns,
            );
            await ip('-n', r.ns, 'link', 'set', c.upstreamIf, 'master', 'lan');
            await ip('-n', r.ns, 'link', 'set', c.upstreamIf, 'up');
          }
        }
      }
      await ip('-n', r.ns, 'addr', 'add', `${r.lanIp}/24`, 'dev', 'lan');
      await ip('-n', r.ns, 'link', 'set', 'lan', 'up');
      await nsExec(r.ns, 'iptables-restore', [], natRules(r.nat));
    }

    for (const c of clients) {
      await ip('-n', c.ns, 'addr', 'add', `${c.lanIp}/24`, 'dev', 'eth0');
      await ip('-n', c.ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', c.ns, 'route', 'add', 'default', 'via', c.gateway);
      await nsExec(
        c.ns,
        'iptables-restore',
        [],
        `*filter\n:${CUT_CHAIN} - [0:0]\n-A INPUT -j ${CUT_CHAIN}\nCOMMIT\n`,
      );
    }
  } catch (e) {
    await destroy().catch(() => {});
    throw e;
  }

  const lab: Lab = {
    scenario: spec.name,
    topology: spec,
    prefix,
    public: { ns: pubNs, ip: RELAY_IP, altIp: ALT_PUBLIC_IP, relayNs },
    clients: clients.map(({ upstreamNs: _u, upstreamIf: _i, ...c }) => c),
    routers,
    client: (name) => byName(lab.clients, name, 'client'),
    router: (name) => byName(routers, name, 'router'),
    namespaces: () => [...allNs],
    exec,
    run,
    spawnNode,
    udpEcho,
    udpProbe,
    blockUdpBetweenClients: async (a, b) => {
      const x = a ?? clients[0]?.name;
      const y = b ?? clients[1]?.name;
      if (x === undefined || y === undefined || x === y)
        throw new Error('need two distinct clients');
      byName(clients, x, 'client');
      byName(clients, y, 'client');
      cuts.add([x, y].sort().join('|'));
      await applyCuts();
    },
    unblockUdpBetweenClients: async () => {
      cuts.clear();
      await applyCuts();
    },
    destroy,
  };
  return lab;
}
