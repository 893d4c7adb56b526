// The cluster's edges, with real processes: a relay started while NATS is down (it serves its own
// clients, says why, and joins when NATS appears), junk published on the cluster's subjects
// (dropped and counted, nothing breaks), NATS with credentials (taken from the URL; wrong ones
// said once, never a crash), and bad cluster flags (one line, non-zero exit).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { runWzp } from '../support/cli.ts';
import { clusterOf, startCluster, waitForCluster, waitForLog } from '../support/cluster-harness.ts';
import { freeTcpPort, startNats } from '../support/nats-server.ts';
import {
  nextLinkEvent,
  startClient,
  startRelay,
  type RunningRelay,
  type TestClient,
} from '../support/relay-harness.ts';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});
async function client(relay: RunningRelay): Promise<TestClient> {
  const c = await startClient(relay);
  cleanups.push(() => c.close());
  return c;
}

describe('cluster faults and bad input', () => {
  test('a relay started while NATS is down serves its own clients, says so, and joins later', async () => {
    const port = await freeTcpPort();
    const url = `nats://127.0.0.1:${port}`;
    const r1 = await startRelay({ extraArgs: ['--cluster', url, '--name', 'early'] });
    cleanups.push(() => r1.stop());
    await waitForLog(r1, /cluster link down: calls only between clients on this relay/);
    assert.match(r1.proc.stderr, /cannot reach NATS/);
    assert.equal(clusterOf(await r1.health()).link, 'down');
    // Calls between its own clients work as on a relay of its own.
    const a = await client(r1);
    const b = await client(r1);
    const callId = newCallId();
    const invited = nextLinkEvent(b.link, 'signal', (s) => s.callId === callId);
    await a.link.sendSignal(b.identity.fingerprint, callId, { kind: 'invite', direct: true });
    await invited;

    const nats = await startNats({ port });
    cleanups.push(() => nats.stop());
    const r2 = await startRelay({ extraArgs: ['--cluster', url, '--name', 'late'] });
    cleanups.push(() => r2.stop());
    await waitForCluster(r1, (c) => c.link === 'up' && c.peers.length === 1, 'early to join');
    // r2's client sees r1's client online: the directory crossed.
    const watcher = await client(r2);
    const online = nextLinkEvent(
      watcher.link,
      'presence',
      (p) => p.fingerprint === a.identity.fingerprint,
    );
    await watcher.link.subscribe([a.identity.fingerprint]);
    assert.equal((await online).online, true);
  });

  test('junk on the cluster subjects is dropped and counted; the cluster carries on', async () => {
    const cluster = await startCluster(['j1', 'j2']);
    cleanups.push(() => cluster.stop());
    const j1 = cluster.relay('j1');
    const target = await client(j1);
    const nc = await connect({ servers: cluster.nats.url });
    cleanups.push(() => nc.close());
    const enc = new TextEncoder();
    const fp = target.identity.fingerprint;
    const junk: [string, Uint8Array][] = [
      ['wzp.cluster.heartbeat', enc.encode('not json')],
      ['wzp.cluster.heartbeat', enc.encode(JSON.stringify({ relay: 'x' }))],
      [
        'wzp.cluster.directory',
        enc.encode(JSON.stringify({ relay: 'x', instance: 'short', fp, epoch: -1, online: true })),
      ],
      ['wzp.cluster.snapshot', new Uint8Array([0xff, 0xfe, 0x00])],
      [`wzp.to.${fp}`, enc.encode(JSON.stringify({ kind: 'signal', from: fp, to: fp }))],
      [`wzp.to.${fp}`, enc.encode('x'.repeat(200_000))],
    ];
    for (const [subject, data] of junk) nc.publish(subject, data);
    // A request without a reply format it expects gets no answer and breaks nothing either.
    await nc.request(`wzp.to.${fp}`, enc.encode('{}'), { timeout: 500 }).catch(() => undefined);
    await nc.flush();
    const c = (await waitForCluster(
      j1,
      (v) => ((v as unknown as { malformed: number }).malformed ?? 0) >= junk.length,
      'the junk to be counted',
    )) as unknown as { malformed: number; peers: unknown[] };
    assert.equal(c.peers.length, 1, 'the peer is still heard');
    // And the cluster still works: a client of j2 sees j1's client online.
    const watcher = await client(cluster.relay('j2'));
    const online = nextLinkEvent(watcher.link, 'presence', (p) => p.fingerprint === fp);
    await watcher.link.subscribe([fp]);
    assert.equal((await online).online, true);
    // A second relay that takes j2's name is called out, by itself and by j2.
    const twin = await startRelay({ extraArgs: ['--cluster', cluster.nats.url, '--name', 'j2'] });
    cleanups.push(() => twin.stop());
    const conflict =
      /another relay in the cluster is named \\"j2\\"|another relay in the cluster is named "j2"/;
    await waitForLog(twin, conflict);
    await waitForLog(cluster.relay('j2'), conflict);
  });

  test('NATS credentials come from the URL; wrong ones are said once and never crash the relay', async () => {
    const port = await freeTcpPort();
    const nats: ChildProcess = spawn(
      'nats-server',
      ['-a', '127.0.0.1', '-p', String(port), '--user', 'wzp', '--pass', 's3cret'],
      { stdio: 'ignore' },
    );
    cleanups.push(async () => {
      nats.kill('SIGKILL');
    });
    await new Promise((r) => setTimeout(r, 300));
    const good = await startRelay({
      extraArgs: ['--cluster', `nats://wzp:s3cret@127.0.0.1:${port}`, '--name', 'good'],
    });
    cleanups.push(() => good.stop());
    const bad = await startRelay({
      extraArgs: ['--cluster', `nats://wzp:wrong@127.0.0.1:${port}`, '--name', 'bad'],
    });
    cleanups.push(() => bad.stop());
    await waitForCluster(good, (c) => c.link === 'up', 'the good relay to connect');
    await waitForLog(bad, /Authorization Violation/);
    await new Promise((r) => setTimeout(r, 2500));
    const said = bad.proc.stderr.match(/cluster link down/g) ?? [];
    assert.equal(said.length, 1, bad.proc.stderr);
    assert.ok(!bad.proc.stderr.includes('s3cret') && !bad.proc.stderr.includes('wrong@'));
    assert.equal(clusterOf(await bad.health()).link, 'down');
    assert.equal(bad.proc.child.exitCode, null, 'still running');
  });

  test('bad cluster flags: one line and a non-zero exit', async () => {
    const cases: [string[], RegExp][] = [
      [['--cluster', 'nats://127.0.0.1:4222'], /--cluster needs --name/],
      [['--name', 'r1'], /--name is the relay's name in a cluster/],
      [
        ['--cluster', 'http://127.0.0.1:4222', '--name', 'r1'],
        /--cluster expects nats:\/\/HOST:PORT/,
      ],
      [['--cluster', 'nats://127.0.0.1:4222', '--name', 'r.1'], /--name expects/],
    ];
    for (const [args, re] of cases) {
      const r = await runWzp([
        'relay',
        '--listen',
        '127.0.0.1:0',
        '--identity',
        '/nonexistent',
        ...args,
      ]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });
});
