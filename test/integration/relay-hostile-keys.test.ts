// A hostile relay against two real `wzp` processes: the real relay with one hook
// (test/support/hostile-relay.ts) that reflects the caller's own X25519 share back to it, or
// replays a party's share from the call before. The shares are signed and bound to both
// identities, the call id and the roles, so both sides must end the call as a security failure
// (exit 4) with no media heard.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Identity, saveIdentity } from '../../src-main/engine/identity/identity.ts';
import { WzpProcess } from '../support/cli.ts';
import { identityFiles, type IdentityFile } from '../support/test-identities.ts';

const HOSTILE = fileURLToPath(new URL('../support/hostile-relay.ts', import.meta.url));

interface Hostile {
  child: ChildProcess;
  quic: string;
  fingerprint: string;
  tampered(): Promise<number>;
}

async function hostileRelay(mode: 'reflect' | 'replay', dir: string): Promise<Hostile> {
  const idFile = join(dir, `relay-${mode}.json`);
  saveIdentity(idFile, Identity.generate());
  const child = spawn(process.execPath, ['--import', 'tsx', HOSTILE, mode, idFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  child.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
      for (const w of [...waiters]) w();
    }
  });
  const next = (event: string, from: number) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`hostile relay: no ${event}`)), 30_000);
      const check = () => {
        const e = lines.slice(from).find((l) => l.event === event);
        if (!e) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(e);
      };
      waiters.add(check);
      check();
    });
  const ev = await next('listening', 0);
  return {
    child,
    quic: String(ev.quic),
    fingerprint: String(ev.fingerprint),
    async tampered() {
      const from = lines.length;
      child.kill('SIGUSR1');
      return Number((await next('health', from)).tampered);
    },
  };
}

/** `wzp answer` and `wzp call` through the relay, relay path only; their end events and codes. */
async function callThrough(relay: Hostile, ids: IdentityFile[]) {
  const common = (i: number) => [
    '--relay',
    relay.quic,
    '--relay-fingerprint',
    relay.fingerprint,
    '--identity',
    ids[i]?.file ?? '',
    '--seconds',
    '5',
    '--json',
    '--no-direct',
  ];
  const callee = new WzpProcess(['answer', ...common(1)]);
  await callee.waitForEvent('waiting', 20_000);
  const caller = new WzpProcess(['call', ids[1]?.fp ?? '', ...common(0)]);
  const codes = await Promise.all([caller.exited, callee.exited]);
  const ended = [caller, callee].map((p) => p.events.find((e) => e.event === 'ended') ?? null);
  const connected = [caller, callee].map((p) => p.events.some((e) => e.event === 'connected'));
  return { codes, ended, connected, stderr: [caller.stderr, callee.stderr] };
}

describe('a relay that plays games with the key shares', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wzp-hostile-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('the caller’s own share reflected back to it: both sides refuse the call', async () => {
    const relay = await hostileRelay('reflect', dir);
    try {
      const r = await callThrough(relay, identityFiles(dir, ['reflect-alice', 'reflect-bob']));
      assert.ok((await relay.tampered()) >= 1, 'the relay never reflected a share');
      // The callee answered with the caller's genuine share in hand (it may say `connected` for
      // the moment until the caller's refusal arrives); the caller refuses; no frame is heard.
      assert.equal(r.connected[0], false, JSON.stringify(r.ended));
      assert.deepEqual(r.codes, [4, 4], JSON.stringify({ ended: r.ended, codes: r.codes }));
      for (const e of r.ended) {
        assert.equal(e?.reason, 'security', JSON.stringify(r.ended));
        assert.equal(e?.framesReceived, 0, JSON.stringify(r.ended));
      }
    } finally {
      relay.child.kill('SIGKILL');
    }
  });

  test('a share replayed from the call before: the first call connects, the second is refused', async () => {
    const relay = await hostileRelay('replay', dir);
    try {
      // The same two identities twice: the relay holds Alice's share from their first call.
      const ids = identityFiles(dir, ['replay-alice', 'replay-bob']);
      const first = await callThrough(relay, ids);
      assert.deepEqual(first.connected, [true, true], JSON.stringify(first.ended));
      const second = await callThrough(relay, ids);
      assert.ok((await relay.tampered()) >= 1, 'the relay never replayed a share');
      assert.deepEqual(second.connected, [false, false], JSON.stringify(second.ended));
      assert.deepEqual(second.codes, [4, 4], JSON.stringify(second.ended));
    } finally {
      relay.child.kill('SIGKILL');
    }
  });
});
