// Port-mapping services on NAT-lab routers (issue 15): Debian's miniupnpd (NAT-PMP, PCP and
// UPnP-IGD on the LAN side, its iptables backend) in a router namespace, a router whose service
// answers every request with an error, and one that answers nothing at all. One miniupnpd per
// router namespace, with its own config file, lease file and chains; the process is the lab's
// child and the chains live in the namespace, so `lab.destroy()` removes both in every outcome
// (`stop()` does it earlier).
//
// miniupnpd refuses to map when its WAN address is private or reserved, and the lab's public
// range 198.18.0.0/15 is reserved. A working router is therefore told to learn its public
// address by STUN from the lab's relay (`ext_perform_stun`), which also checks that nothing
// filters in front of it; a refusing router is the same daemon without that, exactly the state
// of a real router behind a carrier-grade NAT: it answers PCP with NO_RESOURCES and UPnP with no
// external address. Its iptables backend writes through libiptc into the legacy tables, beside
// the lab's own rules (iptables-nft); both stacks see every packet, so the DNAT it adds works.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Lab, LabRouter } from './netns-lab.ts';

export type RouterPortMapping = 'miniupnpd' | 'refusing' | 'silent';

export interface PortMappingService {
  router: LabRouter;
  kind: RouterPortMapping;
  /** What miniupnpd printed so far (empty for 'silent'). */
  log(): string;
  stop(): Promise<void>;
}

export interface PortMappingServiceOptions {
  /** The STUN server a working miniupnpd learns its public address from (the lab relay's). */
  stun: { host: string; port: number };
  /** PCP/NAT-PMP lifetime bounds in seconds (miniupnpd clamps requests to them). */
  minLifetimeS?: number;
  maxLifetimeS?: number;
}

// The chains of miniupnpd's iptables backend (its iptables_init.sh, without the guesswork about
// which interface is external): nat PREROUTING for the DNATs, nat POSTROUTING to keep a mapped
// socket's source port, filter FORWARD to let mapped traffic in.
const CHAINS = [
  '*nat',
  ':MINIUPNPD - [0:0]',
  ':MINIUPNPD-POSTROUTING - [0:0]',
  '-A PREROUTING -i wan -j MINIUPNPD',
  '-A POSTROUTING -o wan -j MINIUPNPD-POSTROUTING',
  'COMMIT',
  '*filter',
  ':MINIUPNPD - [0:0]',
  '-A FORWARD -i wan ! -o wan -j MINIUPNPD',
  'COMMIT',
  '',
].join('\n');

async function must(lab: Lab, ns: string, cmd: string, args: string[], input?: string) {
  const r = await lab.run(ns, cmd, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${ns}: ${r.stderr.trim()}`);
}

function uuidFor(ns: string): string {
  let h = 0;
  for (const c of ns) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  const hex = h.toString(16).padStart(8, '0');
  return `${hex}-7a70-4000-8000-${hex}${hex.slice(0, 4)}`;
}

/** Starts the kind of port-mapping service asked for on `routerName` ('r1', 'r2', ...). */
export async function startPortMappingService(
  lab: Lab,
  routerName: string,
  kind: RouterPortMapping,
  opts: PortMappingServiceOptions,
): Promise<PortMappingService> {
  const router = lab.router(routerName);
  if (kind === 'silent') {
    // A router with the service firewalled: requests vanish, no "port unreachable" comes back.
    await must(lab, router.ns, 'iptables', [
      '-I',
      'INPUT',
      '-i',
      'lan',
      '-p',
      'udp',
      '-m',
      'multiport',
      '--dports',
      '1900,5351',
      '-j',
      'DROP',
    ]);
    return { router, kind, log: () => '', stop: async () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), `wzl-miniupnpd-${process.pid}-`));
  // The lab kills the daemon in every outcome; its files go too, even when the run is cut short.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let child: ChildProcess | null = null;
  let log = '';
  const stop = async () => {
    const c = child;
    child = null;
    if (c && c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          c.kill('SIGKILL');
          r();
        }, 2000);
        c.once('exit', () => {
          clearTimeout(t);
          r();
        });
      });
    }
    removeDir();
    process.removeListener('exit', removeDir);
  };
  try {
    await must(lab, router.ns, 'iptables-legacy-restore', ['--noflush'], CHAINS);
    // The router's own packets (miniupnpd's STUN check) leave from its WAN address as they are:
    // --random-fully would otherwise make the router look symmetric to itself.
    await must(lab, router.ns, 'iptables', [
      '-t',
      'nat',
      '-I',
      'POSTROUTING',
      '-o',
      'wan',
      '-s',
      router.wanIp,
      '-j',
      'RETURN',
    ]);
    const conf = [
      'ext_ifname=wan',
      'listening_ip=lan',
      'http_port=5000',
      'enable_natpmp=yes',
      'enable_upnp=yes',
      'secure_mode=yes',
      'system_uptime=no',
      'ipv6_disable=yes',
      `uuid=${uuidFor(router.ns)}`,
      `lease_file=${join(dir, 'leases')}`,
      `min_lifetime=${opts.minLifetimeS ?? 120}`,
      `max_lifetime=${opts.maxLifetimeS ?? 86400}`,
      ...(kind === 'miniupnpd'
        ? [
            'ext_perform_stun=yes',
            `ext_stun_host=${opts.stun.host}`,
            `ext_stun_port=${opts.stun.port}`,
          ]
        : []),
      // Every LAN host may map its own unprivileged ports, nothing else.
      'allow 1024-65535 10.0.0.0/8 1024-65535',
      'deny 0-65535 0.0.0.0/0 0-65535',
      '',
    ];
    writeFileSync(join(dir, 'miniupnpd.conf'), conf.join('\n'));
    const c = lab.exec(router.ns, 'miniupnpd', [
      '-d',
      '-f',
      join(dir, 'miniupnpd.conf'),
      '-P',
      join(dir, 'miniupnpd.pid'),
    ]);
    child = c;
    c.stdout?.setEncoding('utf8').on('data', (d: string) => (log += d));
    c.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
    const ready = kind === 'miniupnpd' ? /Port forwarding is now enabled/ : /NAT-PMP\/PCP traffic/;
    const deadline = Date.now() + 10_000;
    while (!(ready.test(log) && /HTTP listening/.test(log) && /NAT-PMP\/PCP traffic/.test(log))) {
      if (c.exitCode !== null || c.signalCode !== null)
        throw new Error(`miniupnpd in ${router.ns} exited: ${log.slice(-2000)}`);
      if (Date.now() > deadline)
        throw new Error(`miniupnpd in ${router.ns} not ready: ${log.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return { router, kind, log: () => log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** The named port-mapping scenarios tests and the bench share: a lab topology plus services. */
export const PORT_MAPPING_SCENARIOS = {
  'symmetric-symmetric+miniupnpd': {
    topology: 'symmetric-symmetric',
    routers: { r1: 'miniupnpd', r2: 'miniupnpd' },
    description: 'both behind endpoint-dependent NAT, each router running miniupnpd',
  },
  'symmetric-symmetric+refusing': {
    topology: 'symmetric-symmetric',
    routers: { r1: 'refusing', r2: 'refusing' },
    description: 'both behind endpoint-dependent NAT whose port-mapping service answers errors',
  },
  'symmetric-symmetric+silent': {
    topology: 'symmetric-symmetric',
    routers: { r1: 'silent', r2: 'silent' },
    description: 'both behind endpoint-dependent NAT whose port-mapping service never answers',
  },
} as const satisfies Record<
  string,
  {
    topology: 'symmetric-symmetric';
    routers: Record<string, RouterPortMapping>;
    description: string;
  }
>;

export type PortMappingScenarioName = keyof typeof PORT_MAPPING_SCENARIOS;

/** Starts every service of a named scenario; stops those already started if one fails. */
export async function startScenarioServices(
  lab: Lab,
  name: PortMappingScenarioName,
  opts: PortMappingServiceOptions,
): Promise<PortMappingService[]> {
  const started = await Promise.allSettled(
    Object.entries(PORT_MAPPING_SCENARIOS[name].routers).map(([router, kind]) =>
      startPortMappingService(lab, router, kind, opts),
    ),
  );
  const out = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(out.map((s) => s.stop()));
    throw failed.reason;
  }
  return out;
}
