// The application service against the in-memory FakeSoftphone test double: first run, contacts
// and key changes, persistence and damaged files, calls both ways with audio routing, presence,
// settings, and the rule that every invalid request or audio frame is dropped and counted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AppService } from '../../src-main/app/app-service.ts';
import { MemorySeedStore } from '../../src-main/app/seed-store.ts';
import type { SoftphoneConfig } from '../../src-main/app/softphone-factory.ts';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import {
  decodeAudioFrame,
  encodeAudioFrame,
  type IpcEvent,
  type Snapshot,
} from '../../src-shared/ipc-contract.ts';
import {
  fingerprintToText,
  formatFingerprint,
  type Fingerprint,
} from '../../src-shared/fingerprint.ts';
import { FakeSoftphone } from '../support/fake-softphone.ts';

const RELAY_FP = fingerprintToText(new Uint8Array(32).fill(7));
const newFp = (): Fingerprint => fingerprintToText(randomBytes(32));

/** Let pending promises run until `cond` holds (timers may be mocked, so no waiting on time). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise<void>((r) => setImmediate(r));
  assert.ok(cond(), 'condition never held');
}

interface Rig {
  app: AppService;
  dir: string;
  phones: FakeSoftphone[];
  configs: SoftphoneConfig[];
  events: IpcEvent[];
  clock: { t: number };
  phone(): FakeSoftphone;
  lastSnapshot(): Promise<Snapshot>;
  cleanup(): Promise<void>;
}

async function rig(opts: { dir?: string; seedStore?: MemorySeedStore } = {}): Promise<Rig> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'wzp-app-'));
  const phones: FakeSoftphone[] = [];
  const configs: SoftphoneConfig[] = [];
  const events: IpcEvent[] = [];
  const clock = { t: 1_000_000 };
  let ids = 0;
  const app = new AppService({
    dataDir: dir,
    seedStore: opts.seedStore ?? new MemorySeedStore(),
    now: () => clock.t,
    randomId: () => `contact${String(++ids).padStart(4, '0')}`,
    softphoneFactory: async (config) => {
      configs.push(config);
      const p = new FakeSoftphone(Identity.fromSeed(config.identitySeed).fingerprint, config);
      phones.push(p);
      return p;
    },
  });
  app.onEvent((e) => events.push(e));
  await app.start();
  return {
    app,
    dir,
    phones,
    configs,
    events,
    clock,
    phone() {
      const p = phones.at(-1);
      assert.ok(p, 'a softphone was created');
      return p;
    },
    async lastSnapshot() {
      await new Promise((r) => setImmediate(r));
      const snaps = events.filter((e) => e.event === 'snapshot');
      const s = snaps.at(-1);
      assert.ok(s && s.event === 'snapshot');
      return s.payload;
    },
    async cleanup() {
      await app.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function ok<T>(
  p: Promise<{ ok: true; result: T } | { ok: false; error: { message: string } }>,
): Promise<T> {
  const r = await p;
  if (!r.ok) assert.fail(`expected success, got ${r.error.message}`);
  return r.result;
}

async function online(r: Rig): Promise<void> {
  await ok(r.app.invoke('createIdentity', {}));
  await ok(r.app.invoke('configureRelay', { address: '127.0.0.1:4433', fingerprint: RELAY_FP }));
  r.phone().setRelayState('registered');
}

describe('first run', () => {
  test('creates an identity, configures a relay and starts the phone with them', async () => {
    const r = await rig();
    try {
      let s = r.app.snapshot();
      assert.equal(s.identity, null);
      assert.equal(s.relay.state, 'unconfigured');
      const { fingerprint } = await ok(r.app.invoke('createIdentity', {}));
      assert.equal(r.phones.length, 0, 'no relay yet, so no phone');
      const grouped = formatFingerprint(RELAY_FP).toUpperCase();
      await ok(
        r.app.invoke('configureRelay', { address: 'relay.example:4433', fingerprint: grouped }),
      );
      assert.equal(r.configs.length, 1);
      const cfg = r.configs[0];
      assert.ok(cfg);
      assert.equal(cfg.relay.fingerprint, RELAY_FP, 'grouped upper-case input is canonicalised');
      assert.equal(Identity.fromSeed(cfg.identitySeed).fingerprint, fingerprint);
      assert.equal(r.app.snapshot().relay.state, 'connecting');
      r.phone().setRelayState('registered');
      s = await r.lastSnapshot();
      assert.equal(s.identity?.fingerprint, fingerprint);
      assert.equal(s.relay.state, 'registered');
      const again = await r.app.invoke('createIdentity', {});
      assert.equal(again.ok, false);
      assert.equal(!again.ok && again.error.code, 'conflict');
    } finally {
      await r.cleanup();
    }
  });

  test('a relay fingerprint with a typo is refused with the checksum message', async () => {
    const r = await rig();
    try {
      const typo = RELAY_FP.slice(0, 20) + (RELAY_FP[20] === 'q' ? 'p' : 'q') + RELAY_FP.slice(21);
      const res = await r.app.invoke('configureRelay', { address: 'h:1', fingerprint: typo });
      assert.equal(res.ok, false);
      assert.match(!res.ok ? res.error.message : '', /typo/);
      assert.equal(r.app.snapshot().settings.relay, null);
    } finally {
      await r.cleanup();
    }
  });
});

describe('invalid requests are dropped and counted', () => {
  test('malformed envelopes, unknown commands and bad arguments', async () => {
    const r = await rig();
    try {
      const bad: unknown[] = [
        null,
        42,
        'getSnapshot',
        { cmd: 'getSnapshot', args: {}, extra: 1 },
        { cmd: 'rm -rf', args: {} },
        { cmd: '__proto__', args: {} },
        { cmd: 'addContact', args: { name: 'x', fingerprint: 'nope', source: 'typed' } },
        { cmd: 'addContact', args: { name: '', fingerprint: newFp(), source: 'typed' } },
        { cmd: 'addContact', args: { name: 'a\u0000b', fingerprint: newFp(), source: 'typed' } },
        { cmd: 'addContact', args: { name: 'x', fingerprint: newFp(), source: 'email' } },
        { cmd: 'setMuted', args: { callId: 'abc', muted: 'yes' } },
        { cmd: 'updateSettings', args: { stunServers: ['no-port'] } },
        { cmd: 'updateSettings', args: { relay: null } },
      ];
      const codes: string[] = [];
      for (const b of bad) {
        const res = await r.app.handleRequest(b);
        assert.equal(res.ok, false, JSON.stringify(b));
        if (!res.ok) codes.push(res.error.code);
      }
      assert.equal(r.app.invalidCounts().requests, bad.length);
      assert.ok(codes.includes('invalid-request'));
      assert.ok(codes.includes('unknown-command'));
      assert.ok(codes.includes('invalid-args'));
      // A valid request is not counted as invalid.
      const good = await r.app.handleRequest({ cmd: 'getSnapshot', args: {} });
      assert.equal(good.ok, true);
      assert.equal(r.app.invalidCounts().requests, bad.length);
      assert.equal(r.app.snapshot().contacts.length, 0);
    } finally {
      await r.cleanup();
    }
  });

  test('audio frames of the wrong size or kind are counted, never sent', async () => {
    const r = await rig();
    try {
      r.app.handleAudioIn(new Uint8Array(10));
      r.app.handleAudioIn('frame');
      const wrongKind = new Uint8Array(encodeAudioFrame(0, new Int16Array(960)));
      wrongKind[0] = 9;
      r.app.handleAudioIn(wrongKind);
      assert.equal(r.app.invalidCounts().audioFrames, 3);
      r.app.handleAudioIn(encodeAudioFrame(1, new Int16Array(960)));
      assert.equal(r.app.invalidCounts().audioFrames, 3);
    } finally {
      await r.cleanup();
    }
  });
});

describe('contacts', () => {
  test('add, duplicates, same name with another key, replace and acknowledge', async () => {
    const r = await rig();
    try {
      const alice = newFp();
      const c = await ok(
        r.app.invoke('addContact', {
          name: 'Alice',
          fingerprint: formatFingerprint(alice),
          source: 'typed',
        }),
      );
      assert.equal(c.fingerprint, alice);
      assert.equal(c.verified, false);
      const dup = await r.app.invoke('addContact', {
        name: 'Al',
        fingerprint: alice,
        source: 'typed',
      });
      assert.equal(!dup.ok && dup.error.code, 'conflict');
      const scanned = await ok(
        r.app.invoke('addContact', { name: 'Al', fingerprint: alice, source: 'qr' }),
      );
      assert.equal(scanned.id, c.id);
      assert.equal(scanned.verified, true, 'scanning an existing contact verifies it');
      const other = newFp();
      const clash = await r.app.invoke('addContact', {
        name: 'alice',
        fingerprint: other,
        source: 'qr',
      });
      assert.equal(!clash.ok && clash.error.code, 'key-changed');
      r.clock.t = 2_000_000;
      const replaced = await ok(
        r.app.invoke('replaceContactKey', { id: c.id, fingerprint: other, source: 'typed' }),
      );
      assert.equal(replaced.fingerprint, other);
      assert.equal(replaced.verified, false);
      assert.deepEqual(replaced.keyChange, { previousFingerprint: alice, changedAt: 2_000_000 });
      assert.ok(r.events.some((e) => e.event === 'notice' && e.payload.level === 'warning'));
      const acked = await ok(r.app.invoke('acknowledgeKeyChange', { id: c.id }));
      assert.equal(acked.keyChange, null);
      const renamed = await ok(r.app.invoke('renameContact', { id: c.id, name: 'Alice B' }));
      assert.equal(renamed.name, 'Alice B');
      await ok(r.app.invoke('removeContact', { id: c.id }));
      assert.equal(r.app.snapshot().contacts.length, 0);
      const gone = await r.app.invoke('removeContact', { id: c.id });
      assert.equal(!gone.ok && gone.error.code, 'not-found');
    } finally {
      await r.cleanup();
    }
  });

  test('contacts, settings and history survive a restart; a damaged file is set aside', async () => {
    const seeds = new MemorySeedStore();
    const dir = mkdtempSync(join(tmpdir(), 'wzp-app-'));
    try {
      const a = await rig({ dir, seedStore: seeds });
      await online(a);
      const fp = newFp();
      await ok(a.app.invoke('addContact', { name: 'Bob', fingerprint: fp, source: 'qr' }));
      await ok(a.app.invoke('updateSettings', { displayName: 'Me', directCalls: false }));
      await a.cleanup();

      const b = await rig({ dir, seedStore: seeds });
      let s = b.app.snapshot();
      assert.equal(s.contacts[0]?.name, 'Bob');
      assert.equal(s.contacts[0]?.verified, true);
      assert.equal(s.settings.displayName, 'Me');
      assert.equal(s.settings.directCalls, false);
      assert.equal(s.identity?.fingerprint, a.app.snapshot().identity?.fingerprint);
      assert.equal(b.configs.length, 1, 'goes online by itself with the saved relay');
      assert.equal(b.configs[0]?.directCalls, false);
      await b.cleanup();

      const saved = JSON.parse(readFileSync(join(dir, 'contacts.json'), 'utf8')) as {
        contacts: Array<{ fingerprint: string }>;
      };
      assert.equal(saved.contacts[0]?.fingerprint, fp);
      writeFileSync(join(dir, 'contacts.json'), '{"version":1,"contacts":[{"name":5}]}');
      const c = await rig({ dir, seedStore: seeds });
      s = c.app.snapshot();
      assert.equal(s.contacts.length, 0);
      assert.ok(readdirSync(dir).some((f) => f.startsWith('contacts.json.corrupt-')));
      assert.ok(
        c.events.some(
          (e) => e.event === 'notice' && /contacts file was damaged/.test(e.payload.message),
        ),
      );
      await c.cleanup();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('calls', () => {
  test('outgoing call: connects, routes audio both ways, hangs up into history', async () => {
    const r = await rig();
    try {
      await online(r);
      const bob = newFp();
      const contact = await ok(
        r.app.invoke('addContact', { name: 'Bob', fingerprint: bob, source: 'typed' }),
      );
      const out: ArrayBuffer[] = [];
      r.app.onAudioOut((f) => out.push(f));
      const { callId } = await ok(r.app.invoke('startCall', { id: contact.id }));
      const h = r.phone().calls[0];
      assert.ok(h);
      assert.equal(h.peer, bob);
      assert.equal(r.phone().callOptions[0]?.direct, true);
      let s = await r.lastSnapshot();
      assert.equal(s.call?.state, 'calling');
      assert.equal(s.call?.name, 'Bob');
      const busy = await r.app.invoke('startCall', { id: contact.id });
      assert.equal(!busy.ok && busy.error.code, 'busy');

      r.app.handleAudioIn(encodeAudioFrame(0, new Int16Array(960).fill(5)));
      assert.equal(h.sentFrames.length, 0, 'no audio is sent before the call connects');
      r.clock.t += 1000;
      h.remoteAnswer();
      s = await r.lastSnapshot();
      assert.equal(s.call?.state, 'connected');
      assert.equal(s.call?.path, 'relay');
      r.app.handleAudioIn(encodeAudioFrame(1, new Int16Array(960).fill(7)));
      assert.equal(h.sentFrames.length, 1);
      assert.equal(h.sentFrames[0]?.[959], 7);
      h.emitAudio(new Int16Array(960).fill(-3));
      assert.equal(out.length, 1);
      assert.equal(decodeAudioFrame(out[0])?.samples[0], -3);
      h.setPath('direct');
      h.emitStats();
      s = await r.lastSnapshot();
      assert.equal(s.call?.path, 'direct');
      assert.equal(s.call?.stats?.rttMs, 12);

      await ok(r.app.invoke('setMuted', { callId, muted: true }));
      assert.equal(h.muted, true);
      assert.equal((await r.lastSnapshot()).call?.muted, true);

      r.clock.t += 30_000;
      await ok(r.app.invoke('hangUp', { callId }));
      s = await r.lastSnapshot();
      assert.equal(s.call, null);
      assert.equal(s.history.length, 1);
      const e = s.history[0];
      assert.equal(e?.outcome, 'answered');
      assert.equal(e?.durationS, 30);
      assert.equal(e?.path, 'direct');
      assert.equal(s.contacts[0]?.lastCallAt, r.clock.t);
      const stale = await r.app.invoke('hangUp', { callId });
      assert.equal(!stale.ok && stale.error.code, 'not-found');
    } finally {
      await r.cleanup();
    }
  });

  test('a silent peer: Reconnecting with no stale figures, then the call ends as connection lost', async () => {
    const r = await rig();
    try {
      await online(r);
      const contact = await ok(
        r.app.invoke('addContact', { name: 'Bob', fingerprint: newFp(), source: 'typed' }),
      );
      await ok(r.app.invoke('startCall', { id: contact.id }));
      const h = r.phone().calls[0];
      assert.ok(h);
      h.remoteAnswer();
      h.emitStats();
      let s = await r.lastSnapshot();
      assert.equal(s.call?.stats?.rttMs, 48);
      assert.equal(s.call?.stats?.measuredAt, r.clock.t);
      assert.notEqual(s.call?.reconnecting, true);
      h.setLiveness('reconnecting');
      s = await r.lastSnapshot();
      assert.equal(s.call?.reconnecting, true);
      assert.equal(s.call?.stats, null, 'the last good figures are not shown');
      h.emitStats();
      assert.equal((await r.lastSnapshot()).call?.stats, null);
      h.setLiveness('live');
      h.emitStats();
      s = await r.lastSnapshot();
      assert.equal(s.call?.reconnecting, false);
      assert.equal(s.call?.stats?.rttMs, 48);
      h.setLiveness('reconnecting');
      r.clock.t += 15_000;
      h.fail('connection-lost');
      s = await r.lastSnapshot();
      assert.equal(s.call, null);
      assert.equal(s.history[0]?.reason, 'connection-lost');
      const notices = r.events.filter((e) => e.event === 'notice');
      assert.match(JSON.stringify(notices.at(-1)), /Bob ended: connection lost/);
    } finally {
      await r.cleanup();
    }
  });

  test("a stranger's own name is shown as theirs; a caller turned away as busy gets a notice and a history entry", async () => {
    const r = await rig();
    try {
      await online(r);
      const carol = newFp();
      const h = r.phone().simulateIncoming(carol, 'Carol');
      let s = await r.lastSnapshot();
      assert.equal(s.call?.name, 'Carol');
      assert.equal(s.call?.contactId, null, 'not a contact');
      await ok(r.app.invoke('answerCall', { callId: h.id }));
      r.phone().simulateRejectedBusy(carol, 'Carol again');
      s = await r.lastSnapshot();
      assert.equal(s.call?.id, h.id, 'the call goes on');
      const missed = s.history[0];
      assert.equal(missed?.outcome, 'missed');
      assert.equal(missed?.reason, 'busy');
      assert.equal(missed?.name, 'Carol again');
      const notices = r.events.filter((e) => e.event === 'notice');
      assert.match(JSON.stringify(notices.at(-1)), /Carol again called while you were in a call/);
    } finally {
      await r.cleanup();
    }
  });

  test('calls are refused until the relay registers', async () => {
    const r = await rig();
    try {
      await ok(r.app.invoke('createIdentity', {}));
      await ok(
        r.app.invoke('configureRelay', { address: '127.0.0.1:4433', fingerprint: RELAY_FP }),
      );
      const c = await ok(
        r.app.invoke('addContact', { name: 'Bob', fingerprint: newFp(), source: 'typed' }),
      );
      const res = await r.app.invoke('startCall', { id: c.id });
      assert.equal(!res.ok && res.error.code, 'not-ready');
    } finally {
      await r.cleanup();
    }
  });

  test('incoming: answer; a second caller meanwhile is declined; missed calls recorded', async () => {
    const r = await rig();
    try {
      await online(r);
      const carol = newFp();
      await ok(r.app.invoke('addContact', { name: 'Carol', fingerprint: carol, source: 'typed' }));
      const h = r.phone().simulateIncoming(carol);
      let s = await r.lastSnapshot();
      assert.equal(s.call?.direction, 'incoming');
      assert.equal(s.call?.state, 'ringing');
      assert.equal(s.call?.name, 'Carol');
      await ok(r.app.invoke('answerCall', { callId: h.id }));
      s = await r.lastSnapshot();
      assert.equal(s.call?.state, 'connected');

      const intruder = r.phone().simulateIncoming(newFp());
      assert.deepEqual(intruder.actions, ['decline']);
      assert.equal((await r.lastSnapshot()).call?.id, h.id);
      h.remoteHangup();

      const stranger = newFp();
      const missed = r.phone().simulateIncoming(stranger);
      s = await r.lastSnapshot();
      assert.equal(s.call?.name, null, 'an unknown caller has no name');
      missed.remoteHangup();
      s = await r.lastSnapshot();
      const outcomes = s.history.map((e) => e.outcome);
      assert.deepEqual(outcomes, ['missed', 'answered', 'missed']);
      assert.equal(s.history[2]?.reason, 'busy', 'the caller declined while busy is a missed call');

      const declined = r.phone().simulateIncoming(carol);
      await ok(r.app.invoke('declineCall', { callId: declined.id }));
      s = await r.lastSnapshot();
      assert.equal(s.history[0]?.outcome, 'declined');
      await ok(r.app.invoke('clearHistory', {}));
      assert.equal(r.app.snapshot().history.length, 0);
    } finally {
      await r.cleanup();
    }
  });

  test('a call to a contact whose key changed carries the warning', async () => {
    const r = await rig();
    try {
      await online(r);
      const c = await ok(
        r.app.invoke('addContact', { name: 'Dan', fingerprint: newFp(), source: 'typed' }),
      );
      await ok(
        r.app.invoke('replaceContactKey', { id: c.id, fingerprint: newFp(), source: 'typed' }),
      );
      await ok(r.app.invoke('startCall', { id: c.id }));
      assert.equal((await r.lastSnapshot()).call?.keyWarning, true);
    } finally {
      await r.cleanup();
    }
  });
});

describe('presence and settings', () => {
  test('contacts are watched once registered; presence shows in the snapshot', async () => {
    const r = await rig();
    try {
      await ok(r.app.invoke('createIdentity', {}));
      const fp = newFp();
      await ok(r.app.invoke('addContact', { name: 'Eve', fingerprint: fp, source: 'typed' }));
      await ok(
        r.app.invoke('configureRelay', { address: '127.0.0.1:4433', fingerprint: RELAY_FP }),
      );
      assert.deepEqual(r.phone().watched, []);
      r.phone().setRelayState('registered');
      assert.deepEqual(r.phone().watched, [fp]);
      r.phone().setPresence(fp, true);
      let s = await r.lastSnapshot();
      assert.equal(s.contacts[0]?.online, true);
      r.phone().setRelayState('reconnecting');
      s = await r.lastSnapshot();
      assert.equal(s.contacts[0]?.online, false, 'presence is unknown while the relay is gone');
      assert.equal(s.relay.state, 'reconnecting');
    } finally {
      await r.cleanup();
    }
  });

  test('direct calls toggle the live phone; STUN changes restart it', async () => {
    const r = await rig();
    try {
      await online(r);
      const first = r.phone();
      await ok(r.app.invoke('updateSettings', { directCalls: false }));
      assert.equal(first.directCalls, false);
      assert.equal(r.phones.length, 1);
      await ok(r.app.invoke('updateSettings', { stunServers: ['stun.example:3478'] }));
      assert.equal(r.phones.length, 2);
      assert.equal(first.closed, true);
      assert.deepEqual(r.configs[1]?.stunServers, ['stun.example:3478']);
      assert.equal(r.configs[1]?.directCalls, false);
    } finally {
      await r.cleanup();
    }
  });

  test('port mapping: on by default, also for a settings file older than it; a change restarts the phone', async () => {
    const seeds = new MemorySeedStore();
    const dir = mkdtempSync(join(tmpdir(), 'wzp-app-'));
    try {
      const r = await rig({ dir, seedStore: seeds });
      await online(r);
      assert.equal(r.configs[0]?.portMapping, true);
      await ok(r.app.invoke('updateSettings', { portMapping: false }));
      assert.equal(r.phones.length, 2, 'the phone restarts without asking the router');
      assert.equal(r.configs[1]?.portMapping, false);
      await ok(r.app.invoke('updateSettings', { displayName: 'Me' }));
      assert.equal(r.app.snapshot().settings.portMapping, false, 'a patch without it keeps it');
      await r.cleanup();
      const file = join(dir, 'settings.json');
      const saved = JSON.parse(readFileSync(file, 'utf8')) as {
        settings: Record<string, unknown>;
      };
      delete saved.settings.portMapping;
      writeFileSync(file, JSON.stringify(saved));
      const b = await rig({ dir, seedStore: seeds });
      assert.equal(b.app.snapshot().settings.displayName, 'Me', 'the old file was read, not reset');
      assert.equal(b.app.snapshot().settings.portMapping, true);
      await b.cleanup();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unreachable relay: the reason, the next try, and tries again later', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
    const dir = mkdtempSync(join(tmpdir(), 'wzp-app-'));
    const events: IpcEvent[] = [];
    let attempts = 0;
    const app = new AppService({
      dataDir: dir,
      seedStore: new MemorySeedStore(),
      softphoneFactory: async () => {
        attempts++;
        throw new Error('no route to relay');
      },
    });
    app.onEvent((e) => events.push(e));
    try {
      await app.start();
      await ok(app.invoke('createIdentity', {}));
      await ok(app.invoke('configureRelay', { address: '127.0.0.1:1', fingerprint: RELAY_FP }));
      const s = app.snapshot();
      assert.equal(s.relay.state, 'reconnecting');
      assert.match(s.relay.detail ?? '', /cannot reach the relay at 127\.0\.0\.1:1: no route/);
      assert.equal(s.relay.retryAt, 1_000_000 + 5000);
      const before = attempts;
      t.mock.timers.tick(5000);
      await until(() => attempts === before + 1);
      await until(() => app.snapshot().relay.retryAt === 1_005_000 + 10_000);
      const warnings = events.filter((e) => e.event === 'notice' && e.payload.level === 'warning');
      assert.equal(warnings.length, 1, 'one notice, not one per attempt');
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a relay with another key: one sentence, fingerprints only in the detail, no retry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wzp-app-'));
    const events: IpcEvent[] = [];
    let attempts = 0;
    const other = fingerprintToText(randomBytes(32));
    const app = new AppService({
      dataDir: dir,
      seedStore: new MemorySeedStore(),
      softphoneFactory: async () => {
        attempts++;
        throw Object.assign(new Error(`peer at 127.0.0.1:1 is ${other}, expected ${RELAY_FP}`), {
          code: 'peer-identity-mismatch',
        });
      },
    });
    app.onEvent((e) => events.push(e));
    try {
      await app.start();
      await ok(app.invoke('createIdentity', {}));
      await ok(app.invoke('configureRelay', { address: '127.0.0.1:1', fingerprint: RELAY_FP }));
      const s = app.snapshot();
      assert.equal(s.relay.state, 'failed');
      assert.ok(s.relay.detail?.includes(other), 'the fingerprints are there on request');
      const notice = events.find((e) => e.event === 'notice' && e.payload.level === 'error');
      assert.ok(notice && notice.event === 'notice');
      assert.match(notice.payload.message, /different key than the one this app trusts/);
      assert.ok(!notice.payload.message.includes('wzp1'), 'no raw fingerprints in the notice');
      assert.equal(s.relay.retryAt ?? null, null);
      assert.equal(attempts, 1);
    } finally {
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
