// Ghost calls in the app: two people, each with the real renderer in their own Chromium and their
// own web host on the REAL engine, in a call through a real `wzp relay` process that is killed
// (SIGKILL) mid-call, and again (after a restart) just as Alice hangs up. Neither page may stay
// "In call" with a frozen "Quality: good": both must show "Reconnecting…" (quality "no data")
// and then leave the call within 20 s, with "Connection lost" in History. Direct calls are off
// (the engine binds 0.0.0.0 and tests send only to loopback), so media is on the relay.
// Screenshots of each screen passed, light and dark, go to test-results/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.ts';
import { startWebApp, type WebApp } from '../../src-main/web-host/web-app.ts';
import { createSoftphone } from '../../src-main/app/engine-factory.ts';
import { writeWav } from '../../src-main/engine/call/softphone-api.ts';
import { formatFingerprint } from '../../src-shared/fingerprint.ts';
import { sineTone } from '../support/fixtures.ts';
import { startRelay, type RunningRelay } from '../support/relay-harness.ts';

const RESULTS = join(process.cwd(), 'test-results');
/** What the issue allows for a dead call to be left (15 s of silence plus a margin). */
const LEAVE_WITHIN_MS = 20_000;

interface Side {
  name: 'Alice' | 'Bob';
  web: WebApp;
  browser: Browser;
  page: Page;
  fingerprint: string;
}

async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The screen in light and in dark. */
async function shots(side: Side, step: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await side.page.emulateMedia({ colorScheme: scheme });
    await side.page.screenshot({
      path: join(RESULTS, `ghost-call-${step}-${side.name.toLowerCase()}-${scheme}.png`),
    });
  }
  await side.page.emulateMedia({ colorScheme: 'light' });
}

describe('ghost calls in the app (web hosts, Chromium, real engine, real relay)', () => {
  let work: string;
  let relay: RunningRelay;
  /** Every relay's directory (a restarted relay reuses the first one's identity file). */
  const relayDirs: string[] = [];
  const sides: Side[] = [];

  async function startSide(name: Side['name'], wav: string): Promise<Side> {
    const web = await startWebApp({
      dataDir: join(work, name, 'data'),
      rendererDir: join(work, 'renderer'),
      softphoneFactory: createSoftphone,
    });
    const browser = await launchChromium({ micWav: wav });
    const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
    page.setDefaultTimeout(20_000);
    page.on('pageerror', (e) => console.error(`${name} page error:`, e.message));
    await page.goto(web.host.url);
    await page.getByLabel('Your name').fill(name);
    await page.getByRole('button', { name: 'Create my identity' }).click();
    const fp = page.getByLabel('my fingerprint');
    await fp.waitFor();
    // Read now: the first-run screen (and this element) is gone after Continue.
    const fingerprint = (await fp.textContent()) ?? '';
    await page.getByLabel('Relay address').fill(`${relay.quic.host}:${relay.quic.port}`);
    await page.getByLabel('Relay fingerprint').fill(formatFingerprint(relay.fingerprint));
    await page.getByRole('button', { name: 'Connect to relay' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('status').filter({ hasText: 'Online' }).first().waitFor();
    const r = await web.app.invoke('updateSettings', { directCalls: false });
    assert.ok(r.ok, 'direct calls off');
    const side = { name, web, browser, page, fingerprint };
    sides.push(side);
    return side;
  }

  async function addContact(side: Side, other: Side): Promise<void> {
    const { page } = side;
    await page.getByRole('button', { name: 'Add contact' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill(other.name);
    await dialog.getByLabel('Their fingerprint').fill(other.fingerprint);
    await dialog.getByRole('button', { name: 'Save contact' }).click();
    await page
      .getByRole('listitem', { name: `Contact ${other.name}` })
      .getByText('Online')
      .waitFor({ timeout: 30_000 });
  }

  async function callAndAnswer(alice: Side, bob: Side): Promise<void> {
    await alice.page
      .getByRole('listitem', { name: 'Contact Bob' })
      .getByRole('button', { name: 'Call Bob' })
      .click();
    await bob.page.getByRole('button', { name: 'Answer' }).click();
    await until(
      'both engines connected',
      () =>
        alice.web.app.snapshot().call?.state === 'connected' &&
        bob.web.app.snapshot().call?.state === 'connected',
      20_000,
    );
    for (const s of [alice, bob]) {
      await s.page.getByRole('main', { name: 'In call' }).waitFor();
      // Live figures first (on a loaded machine they may read fair or poor).
      await s.page.getByText(/^Quality: (good|fair|poor)$/).waitFor({ timeout: 15_000 });
    }
  }

  /** The page shows "Reconnecting…" (no stale quality), then leaves the call. */
  async function leavesAsLost(side: Side, since: number): Promise<number> {
    const { page } = side;
    await page.getByText('Reconnecting…').waitFor({ timeout: LEAVE_WITHIN_MS });
    assert.equal(
      await page.getByText(/^Quality: (good|fair|poor)$/).count(),
      0,
      `${side.name}: no stale quality while reconnecting`,
    );
    await page.getByText('Quality: no data').waitFor();
    await page.getByRole('main', { name: 'In call' }).waitFor({
      state: 'detached',
      timeout: LEAVE_WITHIN_MS - (Date.now() - since),
    });
    const left = Date.now() - since;
    assert.equal(side.web.app.snapshot().call, null);
    const h = side.web.app.snapshot().history[0];
    assert.equal(h?.reason, 'connection-lost', `${side.name}: ${JSON.stringify(h)}`);
    return left;
  }

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required for the e2e suite`);
    mkdirSync(RESULTS, { recursive: true });
    work = mkdtempSync(join(tmpdir(), 'wzp-e2e-ghost-'));
    const build = spawnSync(
      process.execPath,
      [
        'node_modules/vite/bin/vite.js',
        'build',
        '--outDir',
        join(work, 'renderer'),
        '--emptyOutDir',
        '--logLevel',
        'error',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(build.status, 0, `renderer build failed: ${build.stderr}`);
    relay = await startRelay();
    relayDirs.push(relay.dir);
    const wav = (hz: number) => {
      const f = join(work, `${hz}.wav`);
      writeWav(f, sineTone({ freq: hz, durationMs: 4000, amplitude: 0.3 }), 48_000);
      return f;
    };
    const alice = await startSide('Alice', wav(440));
    const bob = await startSide('Bob', wav(880));
    await addContact(alice, bob);
    await addContact(bob, alice);
  });

  after(async () => {
    for (const s of sides) {
      await s.browser.close().catch(() => {});
      await s.web.close().catch(() => {});
    }
    await relay?.stop();
    for (const d of relayDirs) rmSync(d, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('the relay killed mid-call: both pages say Reconnecting…, then leave the call', async (t) => {
    const [alice, bob] = sides;
    assert.ok(alice && bob);
    await callAndAnswer(alice, bob);
    await shots(alice, '1-in-call');
    await relay.proc.stop('SIGKILL');
    const killedAt = Date.now();
    await Promise.all(
      [alice, bob].map((s) => s.page.getByText('Reconnecting…').waitFor({ timeout: 10_000 })),
    );
    await shots(alice, '2-reconnecting');
    const left = await Promise.all([leavesAsLost(alice, killedAt), leavesAsLost(bob, killedAt)]);
    t.diagnostic(
      `left the call ${left.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')} after the kill`,
    );
    await alice.page.getByRole('button', { name: /^History/ }).click();
    await alice.page.getByText('Connection lost').first().waitFor();
    await shots(alice, '3-history-connection-lost');
    await alice.page.getByRole('button', { name: 'Contacts' }).click();
  });

  test('the relay killed as Alice hangs up: she leaves at once, Bob within 20 s', async () => {
    const [alice, bob] = sides;
    assert.ok(alice && bob);
    relay = await startRelay({
      identityFile: relay.identityFile,
      port: relay.quic.port,
      stunPort: relay.stun.port,
    });
    relayDirs.push(relay.dir);
    await until(
      'both apps registered with the restarted relay',
      () =>
        alice.web.app.snapshot().relay.state === 'registered' &&
        bob.web.app.snapshot().relay.state === 'registered',
      40_000,
    );
    await callAndAnswer(alice, bob);
    await relay.proc.stop('SIGKILL');
    const killedAt = Date.now();
    await alice.page.getByRole('button', { name: 'Hang up' }).click();
    await alice.page
      .getByRole('main', { name: 'In call' })
      .waitFor({ state: 'detached', timeout: 5000 });
    assert.equal(alice.web.app.snapshot().history[0]?.reason, 'hangup-local');
    await leavesAsLost(bob, killedAt);
    await shots(bob, '4-after-lost');
  });
});
