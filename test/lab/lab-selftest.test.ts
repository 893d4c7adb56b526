// Self-test of the NAT lab (runs as root only; scripts/run-tests.mjs includes test/lab then):
// every scenario is built and probed with real UDP inside its namespaces — NAT rewrites to the
// router's WAN address, plain MASQUERADE keeps one mapping across destinations while
// --random-fully does not, the home-router firewall stops the unsolicited packet that otherwise
// steals a mapping (the conntrack race of FINDINGS.md), udp-blocked passes only the relay host,
// the cut between clients works and lifts — and no namespace outlives a lab, even on SIGTERM.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { buildLab, listLabNamespaces, sweepStaleLabs } from './netns-lab.ts';
import type { Lab, UdpTarget } from './netns-lab.ts';
import { ALT_PUBLIC_IP, RELAY_IP, SCENARIO_NAMES } from './topologies.ts';
import type { ScenarioName } from './topologies.ts';

const LAB_URL = new URL('./netns-lab.ts', import.meta.url).href;

const TARGETS: UdpTarget[] = [
  { host: RELAY_IP, port: 7000 },
  { host: RELAY_IP, port: 7001 },
  { host: ALT_PUBLIC_IP, port: 7000 },
];

function namespacesWithPrefix(prefix: string): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(`${prefix}-`));
}

/** Alive and not a zombie (a container's init may never reap an orphan). */
function processAlive(pid: number): boolean {
  const stat = `/proc/${pid}/stat`;
  if (!existsSync(stat)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(stat, 'utf8'));
  } catch {
    return false;
  }
}

function split(hostPort: string | null | undefined): { ip: string; port: number } {
  assert.ok(hostPort, 'expected a reply');
  const i = hostPort.lastIndexOf(':');
  return { ip: hostPort.slice(0, i), port: Number(hostPort.slice(i + 1)) };
}

async function withLab(name: ScenarioName, fn: (lab: Lab) => Promise<void>): Promise<void> {
  const lab = await buildLab(name);
  assert.equal(namespacesWithPrefix(lab.prefix).length, lab.namespaces().length);
  try {
    await fn(lab);
  } finally {
    await lab.destroy();
    assert.deepEqual(namespacesWithPrefix(lab.prefix), [], 'destroy() left namespaces behind');
  }
}

async function startPublicEchos(lab: Lab): Promise<() => Promise<void>> {
  const echos = await Promise.all(
    TARGETS.map((t) =>
      lab.udpEcho(t.host === RELAY_IP ? lab.public.relayNs : lab.public.ns, t.host, t.port),
    ),
  );
  return async () => {
    await Promise.all(echos.map((e) => e.stop()));
  };
}

const EXPECT_MAPPING: Record<ScenarioName, 'same-port' | 'varies' | 'relay-only'> = {
  'cone-cone': 'same-port',
  'cone-cone-wanfw': 'same-port',
  'symmetric-symmetric': 'varies',
  'public-cone': 'same-port',
  'same-nat': 'same-port',
  'udp-blocked': 'relay-only',
  'double-cone': 'same-port',
  'routed-relay-far': 'same-port',
  'routed-asymmetric': 'same-port',
  'routed-backbone-wanfw': 'same-port',
  'routed-double-nat': 'same-port',
};

describe('NAT lab scenarios: NAT rewrites, mapping behaviour, teardown', () => {
  for (const name of SCENARIO_NAMES) {
    test(name, async () => {
      await withLab(name, async (lab) => {
        assert.equal(lab.scenario, name);
        assert.ok(lab.clients.length >= 2);
        const stop = await startPublicEchos(lab);
        try {
          for (const c of lab.clients) {
            const expect = EXPECT_MAPPING[name];
            const r = await lab.udpProbe(c.ns, {
              targets: TARGETS,
              timeoutMs: expect === 'relay-only' ? 600 : 2000,
            });
            const localPort = split(r.local).port;
            if (expect === 'relay-only') {
              assert.equal(split(r.seen[0]).ip, c.wanIp, `${c.name}: relay sees the router`);
              assert.equal(split(r.seen[1]).ip, c.wanIp);
              assert.equal(r.seen[2], null, `${c.name}: UDP to ${ALT_PUBLIC_IP} must be dropped`);
              continue;
            }
            const seen = r.seen.map(split);
            for (const s of seen) assert.equal(s.ip, c.wanIp, `${c.name} seen as its WAN address`);
            if (c.behindNat) assert.notEqual(c.wanIp, c.lanIp);
            else
              assert.ok(
                seen.every((s) => s.port === localPort),
                'no NAT: port unchanged',
              );
            const ports = new Set(seen.map((s) => s.port));
            if (expect === 'same-port') {
              assert.equal(ports.size, 1, `${c.name}: one mapping for all destinations`);
            } else {
              // Three random ports all equal by chance: about 1 in 4e9.
              assert.ok(ports.size > 1, `${c.name}: endpoint-dependent mapping expected`);
            }
          }
        } finally {
          await stop();
        }
      });
    });
  }
});

/**
 * A stranger's packet to router:P before the client's own first packet from port P to that
 * stranger: without the firewall conntrack keeps an entry for it and MASQUERADE must move the
 * client to another port; with the firewall the packet leaves nothing and the port is kept.
 */
async function mappingAfterUnsolicited(lab: Lab): Promise<{ localPort: number; mapped: number }> {
  const a = lab.client('a');
  const base = 20000 + Math.floor(Math.random() * 20000);
  const stranger = { host: ALT_PUBLIC_IP, port: 9000 };
  // Control: a fresh local port is kept as it is by MASQUERADE when nothing is in the way.
  let echo = await lab.udpEcho(lab.public.ns, stranger.host, stranger.port);
  const control = await lab.udpProbe(a.ns, { targets: [stranger], bindPort: base });
  await echo.stop();
  assert.equal(split(control.seen[0]).port, base, 'MASQUERADE keeps a free source port');
  // The unsolicited packet, from the stranger's own address and port.
  const hit = await lab.udpProbe(lab.public.ns, {
    targets: [{ host: a.wanIp, port: base + 1 }],
    bindHost: stranger.host,
    bindPort: stranger.port,
    timeoutMs: 300,
  });
  assert.equal(hit.seen[0], null);
  echo = await lab.udpEcho(lab.public.ns, stranger.host, stranger.port);
  const after = await lab.udpProbe(a.ns, { targets: [stranger], bindPort: base + 1 });
  await echo.stop();
  return { localPort: base + 1, mapped: split(after.seen[0]).port };
}

describe('NAT lab behaviour', () => {
  test('cone-cone: an unsolicited packet steals the mapping (the conntrack race)', async () => {
    await withLab('cone-cone', async (lab) => {
      const r = await mappingAfterUnsolicited(lab);
      assert.notEqual(r.mapped, r.localPort, 'plain MASQUERADE must remap after a stranger hit');
    });
  });

  test('cone-cone-wanfw: the firewall drops unsolicited WAN input, the mapping is kept', async () => {
    await withLab('cone-cone-wanfw', async (lab) => {
      const r = await mappingAfterUnsolicited(lab);
      assert.equal(r.mapped, r.localPort, 'with the WAN firewall the port is kept');
      const rules = await lab.run(lab.router('r1').ns, 'iptables', [
        '-L',
        'INPUT',
        '-v',
        '-n',
        '-x',
      ]);
      assert.equal(rules.code, 0, rules.stderr);
      const drop = rules.stdout.split('\n').find((l) => /\bDROP\b/.test(l) && /\bwan\b/.test(l));
      assert.ok(drop, rules.stdout);
      assert.ok(Number(drop.trim().split(/\s+/)[0]) >= 1, `no packet dropped:\n${rules.stdout}`);
    });
  });

  test('public-cone: the direct path is cut and restored, the relay path stays', async () => {
    await withLab('public-cone', async (lab) => {
      const a = lab.client('a');
      const b = lab.client('b');
      assert.equal(a.behindNat, false);
      assert.equal(a.lanIp, a.wanIp);
      const echoA = await lab.udpEcho(a.ns, a.lanIp, 7100);
      const relay = await lab.udpEcho(lab.public.ns, RELAY_IP, 7000);
      const toA = { host: a.lanIp, port: 7100 };
      const toRelay = { host: RELAY_IP, port: 7000 };
      try {
        const before = await lab.udpProbe(b.ns, { targets: [toA] });
        assert.equal(split(before.seen[0]).ip, b.wanIp);
        await lab.blockUdpBetweenClients();
        const cut = await lab.udpProbe(b.ns, { targets: [toA, toRelay], timeoutMs: 600 });
        assert.equal(cut.seen[0], null, 'direct path must be cut');
        assert.equal(split(cut.seen[1]).ip, b.wanIp, 'relay path must stay');
        await lab.unblockUdpBetweenClients();
        const back = await lab.udpProbe(b.ns, { targets: [toA] });
        assert.equal(split(back.seen[0]).ip, b.wanIp, 'direct path must come back');
      } finally {
        await echoA.stop();
        await relay.stop();
      }
    });
  });

  test('same-nat: clients share a WAN address, reach each other on the LAN, cut works', async () => {
    await withLab('same-nat', async (lab) => {
      const a = lab.client('a');
      const b = lab.client('b');
      assert.equal(a.wanIp, b.wanIp);
      assert.notEqual(a.lanIp, b.lanIp);
      const echoB = await lab.udpEcho(b.ns, b.lanIp, 7100);
      const toB = { host: b.lanIp, port: 7100 };
      try {
        const direct = await lab.udpProbe(a.ns, { targets: [toB] });
        assert.equal(split(direct.seen[0]).ip, a.lanIp, 'LAN traffic is not NATed');
        await lab.blockUdpBetweenClients('a', 'b');
        const cut = await lab.udpProbe(a.ns, { targets: [toB], timeoutMs: 600 });
        assert.equal(cut.seen[0], null);
        await lab.unblockUdpBetweenClients();
        const back = await lab.udpProbe(a.ns, { targets: [toB] });
        assert.equal(split(back.seen[0]).ip, a.lanIp);
      } finally {
        await echoB.stop();
      }
    });
  });

  test('spawnNode runs TypeScript inside a namespace; destroy() ends lab processes', async () => {
    const lab = await buildLab('cone-cone');
    let pid: number | undefined;
    try {
      const child = lab.spawnNode(lab.client('a').ns, [
        '--input-type=module',
        '-e',
        `const { RELAY_IP } = await import(${JSON.stringify(new URL('./topologies.ts', import.meta.url).href)});
         const os = await import('node:os');
         const addrs = Object.values(os.networkInterfaces()).flat().map((i) => i.address);
         console.log(JSON.stringify({ relay: RELAY_IP, addrs }));
         setInterval(() => {}, 1000);`,
      ]);
      pid = child.pid;
      const line = await new Promise<string>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`exited ${code}`)));
        createInterface({ input: child.stdout! }).once('line', resolve);
      });
      const out = JSON.parse(line) as { relay: string; addrs: string[] };
      assert.equal(out.relay, RELAY_IP);
      assert.ok(out.addrs.includes(lab.client('a').lanIp), line);
      assert.ok(pid !== undefined && processAlive(pid));
    } finally {
      await lab.destroy();
    }
    assert.ok(pid !== undefined && !processAlive(pid), 'destroy() must end lab processes');
  });
});

describe('NAT lab teardown in every outcome', () => {
  test('SIGTERM to the process that built a lab removes its namespaces', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(LAB_URL)});
         const lab = await m.buildLab('double-cone');
         const echo = await lab.udpEcho(lab.public.ns, m.RELAY_IP, 7000);
         console.log(JSON.stringify({ prefix: lab.prefix, pid: lab.exec(lab.client('a').ns, 'sleep', ['60']).pid }));
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_c, s) => r(s)));
    const line = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`lab child exited early (${code})`)));
      createInterface({ input: child.stdout }).once('line', resolve);
    });
    const info = JSON.parse(line) as { prefix: string; pid: number };
    assert.ok(namespacesWithPrefix(info.prefix).length >= 7);
    assert.ok(processAlive(info.pid));
    child.kill('SIGTERM');
    assert.equal(await exited, 'SIGTERM');
    assert.deepEqual(namespacesWithPrefix(info.prefix), []);
    assert.ok(!processAlive(info.pid), 'a process inside the lab survived');
  });

  test('sweepStaleLabs removes a dead run’s namespaces and keeps a live one’s', () => {
    const deadPid = spawnSync('true').pid;
    assert.ok(deadPid !== undefined && !processAlive(deadPid));
    const stale = `wzl-${deadPid}-0-pub`;
    const mine = `wzl-${process.pid}-999-pub`;
    execFileSync('ip', ['netns', 'add', stale]);
    execFileSync('ip', ['netns', 'add', mine]);
    try {
      const removed = sweepStaleLabs();
      assert.ok(removed.includes(stale));
      assert.ok(!removed.includes(mine));
      const left = listLabNamespaces();
      assert.ok(!left.includes(stale));
      assert.ok(left.includes(mine));
    } finally {
      for (const ns of [stale, mine]) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    }
  });
});
