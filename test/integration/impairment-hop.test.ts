// The impairment hop on loopback, in-process and as a standalone process: seeded loss hits
// exactly the packets the model predicts, delay is applied (lower bounds only, nothing that a
// loaded machine could flake), duplication, foreign senders, and parameter changes on stdin.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImpairmentModel } from '../support/impairment-model.ts';
import { startImpairmentHop } from '../support/impairment-hop.ts';
import type { HostPort } from '../support/impairment-hop.ts';

const HOP_SCRIPT = fileURLToPath(new URL('../support/impairment-hop.ts', import.meta.url));

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return s;
}

function portOf(s: dgram.Socket): number {
  return (s.address() as AddressInfo).port;
}

/** A client socket that records the sequence numbers (uint32 at offset 0) echoed back to it. */
async function client(): Promise<{
  sock: dgram.Socket;
  got: number[];
  send: (seq: number, to: HostPort) => void;
}> {
  const sock = await udp();
  const got: number[] = [];
  sock.on('message', (m) => got.push(m.readUInt32BE(0)));
  const send = (seq: number, to: HostPort): void => {
    const b = Buffer.alloc(64);
    b.writeUInt32BE(seq, 0);
    sock.send(b, to.port, to.host);
  };
  return { sock, got, send };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(10);
  }
  return true;
}

let echo: dgram.Socket;
let target: HostPort;
before(async () => {
  echo = await udp();
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  target = { host: '127.0.0.1', port: portOf(echo) };
});
after(() => echo.close());

describe('impairment hop in-process', () => {
  test('seeded loss drops exactly the packets the model predicts, one direction only', async () => {
    const seed = 3;
    const hop = await startImpairmentHop({
      listen: { host: '127.0.0.1', port: 0 },
      target,
      up: { lossPct: 20 },
      seed,
    });
    const c = await client();
    try {
      const n = 300;
      const model = new ImpairmentModel({ lossPct: 20 }, seed);
      const expected: number[] = [];
      for (let i = 0; i < n; i++) if (!model.decide(0).drop) expected.push(i);
      for (let i = 0; i < n; i++) {
        c.send(i, hop.listen);
        if (i % 50 === 49) await sleep(5);
      }
      await until(() => c.got.length >= expected.length, 3000);
      await sleep(50); // anything extra would show up now
      assert.deepEqual(c.got, expected);
      const s = hop.stats();
      assert.equal(s.up.received, n);
      assert.equal(s.up.dropped, n - expected.length);
      assert.ok(s.up.dropped > 0.1 * n && s.up.dropped < 0.3 * n);
      assert.equal(s.down.dropped, 0);
      assert.equal(s.down.forwarded, expected.length);
      assert.deepEqual(s.client, { host: '127.0.0.1', port: portOf(c.sock) });
    } finally {
      c.sock.close();
      await hop.close();
    }
  });

  test('delay is applied in both directions (lower bound only)', async () => {
    const hop = await startImpairmentHop({
      listen: { host: '127.0.0.1', port: 0 },
      target,
      params: { delayMs: 60 },
    });
    const c = await client();
    try {
      for (let i = 0; i < 4; i++) {
        const t0 = performance.now();
        c.send(i, hop.listen);
        assert.ok(await until(() => c.got.length === i + 1, 3000), 'echo came back');
        const rtt = performance.now() - t0;
        assert.ok(rtt >= 119, `rtt ${rtt.toFixed(1)} ms should include 2 × 60 ms`);
      }
      const s = hop.stats();
      assert.equal(s.up.queued + s.down.queued, 0);
    } finally {
      c.sock.close();
      await hop.close();
    }
  });

  test('duplication, and a second sender is not forwarded', async () => {
    const hop = await startImpairmentHop({
      listen: { host: '127.0.0.1', port: 0 },
      target,
      up: { duplicatePct: 100 },
    });
    const c = await client();
    const intruder = await client();
    try {
      for (let i = 0; i < 10; i++) c.send(i, hop.listen);
      assert.ok(await until(() => c.got.length >= 20, 3000));
      intruder.send(99, hop.listen);
      await sleep(100);
      assert.equal(c.got.length, 20);
      assert.deepEqual(
        [...new Set(c.got)].sort((a, b) => a - b),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
      assert.equal(intruder.got.length, 0);
      assert.equal(hop.stats().foreign, 1);
      assert.equal(hop.stats().up.duplicated, 10);
    } finally {
      c.sock.close();
      intruder.sock.close();
      await hop.close();
    }
  });

  test('setParams changes loss mid-stream; invalid patches change nothing', async () => {
    const hop = await startImpairmentHop({ listen: { host: '127.0.0.1', port: 0 }, target });
    const c = await client();
    try {
      for (let i = 0; i < 20; i++) c.send(i, hop.listen);
      assert.ok(await until(() => c.got.length === 20, 3000));
      hop.setParams({ down: { lossPct: 100 } });
      assert.throws(() => hop.setParams({ up: { lossPct: 0 }, down: { lossPct: 200 } }));
      assert.throws(() => hop.setParams({ loss: 3 } as never));
      assert.equal(hop.params().up.lossPct, 0);
      assert.equal(hop.params().down.lossPct, 100);
      for (let i = 20; i < 40; i++) c.send(i, hop.listen);
      assert.ok(await until(() => hop.stats().down.received === 20, 3000));
      await sleep(30);
      assert.equal(c.got.length, 20);
      assert.equal(hop.stats().down.dropped, 20);
    } finally {
      c.sock.close();
      await hop.close();
    }
  });
});

describe('impairment hop as a standalone process', () => {
  test('prints a listening line, takes parameter changes on stdin, stats on SIGUSR1 and at exit', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        HOP_SCRIPT,
        '--listen',
        '127.0.0.1:0',
        '--target',
        `127.0.0.1:${target.port}`,
        '--delay',
        '5',
        '--seed',
        '1',
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const events: Record<string, unknown>[] = [];
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (l) => events.push(JSON.parse(l) as Record<string, unknown>));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    const nextEvent = async (name: string, from: number): Promise<Record<string, unknown>> => {
      let found: Record<string, unknown> | undefined;
      const ok = await until(
        () => (found = events.slice(from).find((e) => e.event === name)) !== undefined,
        8000,
      );
      assert.ok(ok && found, `no "${name}" event; got ${JSON.stringify(events)}`);
      return found;
    };
    const c = await client();
    try {
      const listening = await nextEvent('listening', 0);
      assert.equal(typeof listening.listen, 'string');
      const [host, port] = String(listening.listen).split(':');
      const hopAddr = { host: host ?? '', port: Number(port) };
      assert.ok(hopAddr.port > 0);
      assert.equal((listening.up as { delayMs: number }).delayMs, 5);

      for (let i = 0; i < 20; i++) c.send(i, hopAddr);
      assert.ok(await until(() => c.got.length === 20, 3000), 'all 20 through a clean hop');

      let mark = events.length;
      child.stdin.write('{"lossPct":100}\n');
      const p = await nextEvent('params', mark);
      assert.equal((p.up as { lossPct: number }).lossPct, 100);
      assert.equal((p.down as { delayMs: number }).delayMs, 5, 'a patch keeps the other knobs');
      for (let i = 20; i < 40; i++) c.send(i, hopAddr);
      await sleep(300);
      assert.equal(c.got.length, 20, 'nothing through at 100 % loss');

      mark = events.length;
      child.stdin.write('{"loss":1}\n');
      assert.match(String((await nextEvent('error', mark)).message), /bad parameters/);

      mark = events.length;
      child.stdin.write('{"up":{"lossPct":0},"down":{"lossPct":0}}\n');
      await nextEvent('params', mark);
      for (let i = 40; i < 60; i++) c.send(i, hopAddr);
      assert.ok(
        await until(() => c.got.length === 40, 3000),
        'traffic flows again after lowering loss',
      );

      mark = events.length;
      child.kill('SIGUSR1');
      const stats = await nextEvent('stats', mark);
      const up = stats.up as { received: number; dropped: number };
      assert.equal(up.received, 60);
      assert.equal(up.dropped, 20);

      mark = events.length;
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      const final = await nextEvent('stats', mark);
      assert.equal(final.final, true);
    } finally {
      c.sock.close();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  test('bad flags: one-line error and a non-zero exit', async () => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        HOP_SCRIPT,
        '--listen',
        '127.0.0.1:0',
        '--target',
        '127.0.0.1:9',
        '--loss',
        'lots',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 2);
    assert.match(stderr.split('\n')[0] ?? '', /--loss: not a number/);
  });
});
