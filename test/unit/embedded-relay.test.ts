// The built-in relay's decisions without sockets: when a host runs it and on which ports
// (planEmbeddedRelay, parseRelayPort), and the AppService's prepareRelay hook that makes it the
// user's relay on first run, keeps the user's own relay, and survives a host that fails.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { AppService } from '../../src-main/app/app-service.ts';
import { MemorySeedStore } from '../../src-main/app/seed-store.ts';
import type { SoftphoneConfig } from '../../src-main/app/softphone-factory.ts';
import {
  loadOrCreateRelayIdentity,
  parseRelayPort,
  planEmbeddedRelay,
} from '../../src-main/desktop/embedded-relay.ts';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { fingerprintToText, type Fingerprint } from '../../src-shared/fingerprint.ts';
import type { IpcEvent, RelaySettings } from '../../src-shared/ipc-contract.ts';
import { FakeSoftphone } from '../support/fake-softphone.ts';

const newFp = (): Fingerprint => fingerprintToText(randomBytes(32));

describe('planEmbeddedRelay', () => {
  const own = newFp();

  test('first run: run it, on the default port first, then on any free port', () => {
    assert.deepEqual(planEmbeddedRelay(null, null, 7000), { run: true, ports: [7000, 0] });
    assert.deepEqual(planEmbeddedRelay(null, own, 0), { run: true, ports: [0] });
  });

  test('the configured relay is ours: run it on its port first', () => {
    const cfg = { address: '127.0.0.1:7010', fingerprint: own };
    assert.deepEqual(planEmbeddedRelay(cfg, own, 7000), { run: true, ports: [7010, 7000, 0] });
    assert.deepEqual(planEmbeddedRelay({ ...cfg, address: '127.0.0.1:7000' }, own, 7000), {
      run: true,
      ports: [7000, 0],
    });
  });

  test("the user's own relay, or ours at a non-loopback address: do not run", () => {
    assert.deepEqual(
      planEmbeddedRelay({ address: 'relay.example:4433', fingerprint: newFp() }, own, 7000),
      { run: false },
    );
    assert.deepEqual(
      planEmbeddedRelay({ address: '127.0.0.1:7000', fingerprint: newFp() }, own, 7000),
      { run: false },
    );
    assert.deepEqual(
      planEmbeddedRelay({ address: '127.0.0.1:7000', fingerprint: own }, null, 7000),
      { run: false },
      'no relay identity yet: the configured relay cannot be ours',
    );
    assert.deepEqual(
      planEmbeddedRelay({ address: '192.0.2.1:7000', fingerprint: own }, own, 7000),
      { run: false },
    );
  });

  test('every planned port leaves room for STUN on port + 1, ends with 0, no repeats', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 1, max: 65535 }),
        fc.boolean(),
        (def, cfgPort, configured) => {
          const cfg = configured ? { address: `127.0.0.1:${cfgPort}`, fingerprint: own } : null;
          const plan = planEmbeddedRelay(cfg, own, def);
          assert.equal(plan.run, true);
          if (!plan.run) return;
          assert.equal(plan.ports.at(-1), 0);
          assert.equal(new Set(plan.ports).size, plan.ports.length);
          for (const p of plan.ports) assert.ok(p >= 0 && p + 1 <= 65535);
        },
      ),
    );
  });
});

test('parseRelayPort accepts 0..65534 and nothing else', () => {
  assert.equal(parseRelayPort('7000'), 7000);
  assert.equal(parseRelayPort(' 0 '), 0);
  assert.equal(parseRelayPort('65534'), 65534);
  for (const bad of [undefined, '', '65535', '-1', '7000x', '1e3', '700000']) {
    assert.equal(parseRelayPort(bad), null, String(bad));
  }
});

test('loadOrCreateRelayIdentity creates an owner-only file once, then loads it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wzp-relay-id-'));
  try {
    const file = join(dir, 'relay-identity.json');
    const a = loadOrCreateRelayIdentity(file);
    if (process.platform !== 'win32') assert.equal(statSync(file).mode & 0o777, 0o600);
    const b = loadOrCreateRelayIdentity(file);
    assert.equal(b.fingerprint, a.fingerprint);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('AppService prepareRelay hook', () => {
  async function start(
    dir: string,
    prepareRelay: (c: RelaySettings | null) => Promise<RelaySettings | null>,
  ) {
    const configs: SoftphoneConfig[] = [];
    const events: IpcEvent[] = [];
    const app = new AppService({
      dataDir: dir,
      seedStore: new MemorySeedStore(),
      softphoneFactory: async (config) => {
        configs.push(config);
        return new FakeSoftphone(Identity.fromSeed(config.identitySeed).fingerprint, config);
      },
      prepareRelay,
    });
    app.onEvent((e) => events.push(e));
    await app.start();
    return { app, configs, events };
  }
  const savedRelay = (dir: string): unknown =>
    (JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as { settings: unknown })
      .settings;

  test('first run: the offered relay becomes the setting, is saved and is dialled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wzp-prep-'));
    try {
      const fp = newFp();
      const seen: Array<RelaySettings | null> = [];
      const { app, configs } = await start(dir, async (c) => {
        seen.push(c);
        return { address: '127.0.0.1:7000', fingerprint: fp };
      });
      assert.deepEqual([...seen], [null]);
      assert.deepEqual(app.snapshot().settings.relay, {
        address: '127.0.0.1:7000',
        fingerprint: fp,
      });
      assert.deepEqual((savedRelay(dir) as { relay: unknown }).relay, {
        address: '127.0.0.1:7000',
        fingerprint: fp,
      });
      await app.invoke('createIdentity', {});
      assert.equal(configs.at(-1)?.relay.address, '127.0.0.1:7000');
      await app.close();

      // Next start: the hook sees the saved relay; a new port (the old one was taken) is saved.
      const again = await start(dir, async (c) => {
        seen.push(c);
        return { address: '127.0.0.1:7002', fingerprint: fp };
      });
      assert.deepEqual(seen[1], { address: '127.0.0.1:7000', fingerprint: fp });
      assert.equal(again.app.snapshot().settings.relay?.address, '127.0.0.1:7002');
      await again.app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("null keeps the user's relay; a failing or invalid offer changes nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wzp-prep-'));
    try {
      const first = await start(dir, async () => null);
      const mine = { address: 'relay.example:4433', fingerprint: newFp() };
      await first.app.invoke('configureRelay', mine);
      await first.app.close();

      const kept = await start(dir, async () => null);
      assert.deepEqual(kept.app.snapshot().settings.relay, mine);
      await kept.app.close();

      const failing = await start(dir, async () => {
        throw new Error('no free port');
      });
      assert.deepEqual(failing.app.snapshot().settings.relay, mine);
      const notices = failing.events.filter((e) => e.event === 'notice');
      assert.ok(
        notices.some((n) => n.event === 'notice' && /no free port/.test(n.payload.message)),
        'the user is told the built-in relay could not start',
      );
      await failing.app.close();

      const bogus = await start(
        dir,
        async () => ({ address: 'not an address', fingerprint: 'x' }) as unknown as RelaySettings,
      );
      assert.deepEqual(bogus.app.snapshot().settings.relay, mine);
      await bogus.app.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
