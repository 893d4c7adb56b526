// The built-in relay for real, on loopback, in the composition `npm run web` runs (web-app.ts:
// AppService on the real engine, the EmbeddedRelay hook, the web host): it registers on first
// run with nothing configured; the next start reuses the same relay identity and port; a taken
// port moves the relay and the saved setting with it; a relay the user chose elsewhere starts
// nothing and creates no relay identity. Two profiles (two data directories, one relay
// directory): the second uses the relay the first runs, they can see each other online, and
// when the first quits the second runs the relay on the same port.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { AppService } from '../../src-main/app/app-service.ts';
import { createSoftphone } from '../../src-main/app/engine-factory.ts';
import { EmbeddedRelay, RELAY_IDENTITY_FILE } from '../../src-main/desktop/embedded-relay.ts';
import { startWebApp } from '../../src-main/web-host/web-app.ts';
import { fingerprintToText } from '../../src-shared/fingerprint.ts';
import { parseHostPort } from '../../src-shared/relay-protocol.ts';

async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const silent = pino({ level: 'silent' });

// The composition `npm run web` runs (web-app.ts), on a stub renderer.
const rendererDir = mkdtempSync(join(tmpdir(), 'wzp-embedded-renderer-'));
writeFileSync(join(rendererDir, 'index.html'), '<!doctype html>');
after(() => rmSync(rendererDir, { recursive: true, force: true }));

async function host(dataDir: string, relayDir = dataDir) {
  const relay = new EmbeddedRelay({ dataDir: relayDir, defaultPort: 0, logger: silent });
  const web = await startWebApp({ dataDir, softphoneFactory: createSoftphone, rendererDir, relay });
  return { app: web.app, relay, close: () => web.close() };
}

const portOf = (address: string | undefined): number => {
  const hp = parseHostPort(address ?? '');
  assert.ok(hp, `an address: ${address}`);
  return hp.port;
};

describe('built-in relay', () => {
  test('first run registers on it; restarts reuse it; a taken port moves it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wzp-embedded-'));
    try {
      const first = await host(dir);
      const info = first.relay.info;
      assert.ok(info, 'the relay runs');
      assert.match(info.address, /^127\.0\.0\.1:\d+$/);
      assert.match(info.stunAddress, /^127\.0\.0\.1:\d+$/);
      const idFile = join(dir, RELAY_IDENTITY_FILE);
      if (process.platform !== 'win32') assert.equal(statSync(idFile).mode & 0o777, 0o600);
      assert.deepEqual(first.app.snapshot().settings.relay, {
        address: info.address,
        fingerprint: info.fingerprint,
      });
      const r = await first.app.invoke('updateSettings', { directCalls: false });
      assert.ok(r.ok);
      assert.ok((await first.app.invoke('createIdentity', {})).ok);
      await until('registered on the built-in relay', () => {
        return first.app.snapshot().relay.state === 'registered';
      });
      await first.close();

      const second = await host(dir);
      assert.equal(second.relay.info?.fingerprint, info.fingerprint, 'same relay identity');
      assert.equal(second.relay.info?.address, info.address, 'same port while it is free');
      await until('registered again', () => second.app.snapshot().relay.state === 'registered');
      await second.close();

      // Something else took the port meanwhile: the relay moves and the setting follows.
      const squatter = createSocket('udp4');
      await new Promise<void>((res) => squatter.bind(portOf(info.address), '127.0.0.1', res));
      try {
        const third = await host(dir);
        const moved = third.relay.info;
        assert.ok(moved);
        assert.equal(moved.fingerprint, info.fingerprint);
        assert.notEqual(moved.address, info.address);
        assert.equal(third.app.snapshot().settings.relay?.address, moved.address);
        const saved = JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8')) as {
          settings: { relay: { address: string } };
        };
        assert.equal(saved.settings.relay.address, moved.address);
        await until('registered on the moved relay', () => {
          return third.app.snapshot().relay.state === 'registered';
        });
        await third.close();
      } finally {
        squatter.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a relay the user chose elsewhere: nothing starts, no relay identity is made', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wzp-embedded-'));
    try {
      const first = new AppService({ dataDir: dir, softphoneFactory: createSoftphone });
      await first.start();
      const mine = { address: '127.0.0.1:9', fingerprint: fingerprintToText(randomBytes(32)) };
      // No identity yet, so nothing ever dials this address.
      assert.ok((await first.invoke('configureRelay', mine)).ok);
      await first.close();

      const h = await host(dir);
      assert.equal(h.relay.info, null);
      assert.equal(existsSync(join(dir, RELAY_IDENTITY_FILE)), false);
      assert.deepEqual(h.app.snapshot().settings.relay, mine);
      await h.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('profiles share the running relay and take it over when its owner quits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wzp-embedded-'));
    try {
      const alice = await host(join(dir, 'default'));
      const bob = await host(join(dir, 'default-bob'), join(dir, 'default'));
      const a = alice.relay.info;
      assert.equal(a?.runBy, 'this');
      assert.equal(bob.relay.info?.runBy, 'other', 'bob starts no relay of his own');
      assert.equal(bob.relay.info?.address, a?.address);
      assert.deepEqual(bob.app.snapshot().settings.relay, alice.app.snapshot().settings.relay);
      for (const h of [alice, bob]) {
        assert.ok((await h.app.invoke('updateSettings', { directCalls: false })).ok);
        assert.ok((await h.app.invoke('createIdentity', {})).ok);
      }
      const bobFp = bob.app.snapshot().identity?.fingerprint;
      assert.ok(bobFp);
      assert.ok(
        (await alice.app.invoke('addContact', { name: 'Bob', fingerprint: bobFp, source: 'typed' }))
          .ok,
      );
      await until('Alice sees Bob online on the one relay', () => {
        return alice.app.snapshot().contacts[0]?.online === true;
      });

      await alice.close();
      await until(
        'Bob runs the relay on the same port',
        () => bob.relay.info?.runBy === 'this',
        10_000,
      );
      assert.equal(bob.relay.info?.address, a?.address);
      await until(
        'Bob registered again',
        () => bob.app.snapshot().relay.state === 'registered',
        15_000,
      );
      await bob.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
