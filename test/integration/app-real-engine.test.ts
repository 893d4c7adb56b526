// Two AppServices on the REAL call engine (engine-factory.ts) and a real `wzp relay` on
// loopback: first run, presence, a call answered on the other side, audio frames from one
// app's "renderer" arriving at the other's, hang-up into both histories. Direct calls are off
// so nothing is ever sent beyond loopback (host candidates could name other interfaces).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppService } from '../../src-main/app/app-service.ts';
import { createSoftphone } from '../../src-main/app/engine-factory.ts';
import { MemorySeedStore } from '../../src-main/app/seed-store.ts';
import {
  decodeAudioFrame,
  encodeAudioFrame,
  type CommandName,
  type IpcResult,
  type Snapshot,
} from '../../src-shared/ipc-contract.ts';
import { startRelay, type RunningRelay } from '../support/relay-harness.ts';

async function ok<C extends CommandName>(p: Promise<IpcResult<C>>) {
  const r = await p;
  if (!r.ok) assert.fail(`${r.error.code}: ${r.error.message}`);
  return r.result;
}

async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('app service on the real engine', () => {
  let relay: RunningRelay;
  let dir: string;
  const apps: AppService[] = [];

  before(async () => {
    relay = await startRelay();
    dir = mkdtempSync(join(tmpdir(), 'wzp-app-real-'));
  });
  after(async () => {
    for (const a of apps) await a.close();
    await relay?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function user(name: string): Promise<{ app: AppService; snap: () => Snapshot }> {
    const app = new AppService({
      dataDir: join(dir, name),
      seedStore: new MemorySeedStore(),
      softphoneFactory: createSoftphone,
    });
    apps.push(app);
    await app.start();
    await ok(app.invoke('createIdentity', {}));
    await ok(app.invoke('updateSettings', { directCalls: false, displayName: name }));
    await ok(
      app.invoke('configureRelay', {
        address: `${relay.quic.host}:${relay.quic.port}`,
        fingerprint: relay.fingerprint,
      }),
    );
    await until(`${name} registered`, () => app.snapshot().relay.state === 'registered');
    return { app, snap: () => app.snapshot() };
  }

  test('call, answer, audio across, hang up', async () => {
    const a = await user('alice');
    const b = await user('bob');
    const aFp = a.snap().identity?.fingerprint;
    const bFp = b.snap().identity?.fingerprint;
    assert.ok(aFp && bFp);
    const bob = await ok(
      a.app.invoke('addContact', { name: 'Bob', fingerprint: bFp, source: 'typed' }),
    );
    await ok(b.app.invoke('addContact', { name: 'Alice', fingerprint: aFp, source: 'typed' }));
    await until('presence', () => a.snap().contacts[0]?.online === true);

    const { callId } = await ok(a.app.invoke('startCall', { id: bob.id }));
    await until('incoming at Bob', () => b.snap().call?.state === 'ringing');
    const incoming = b.snap().call;
    assert.equal(incoming?.name, 'Alice');
    assert.equal(incoming?.direction, 'incoming');
    await ok(b.app.invoke('answerCall', { callId: incoming?.id ?? '' }));
    await until(
      'connected both sides',
      () => a.snap().call?.state === 'connected' && b.snap().call?.state === 'connected',
    );
    await until('a media path', () => a.snap().call?.path === 'relay');

    const heard: number[] = [];
    b.app.onAudioOut((f) => {
      const d = decodeAudioFrame(f);
      if (d) heard.push(Math.max(...d.samples.map(Math.abs)));
    });
    const tone = new Int16Array(960);
    let seq = 0;
    const timer = setInterval(() => {
      for (let i = 0; i < 960; i++)
        tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (seq * 960 + i)) / 48_000));
      a.app.handleAudioIn(encodeAudioFrame(seq++, tone));
    }, 20);
    try {
      await until('loud frames at Bob', () => heard.filter((p) => p > 2000).length >= 10);
    } finally {
      clearInterval(timer);
    }

    await ok(a.app.invoke('hangUp', { callId }));
    await until('ended both sides', () => a.snap().call === null && b.snap().call === null);
    assert.equal(a.snap().history[0]?.outcome, 'answered');
    assert.equal(b.snap().history[0]?.outcome, 'answered');
    assert.equal(a.app.invalidCounts().audioFrames, 0);
  });
});
