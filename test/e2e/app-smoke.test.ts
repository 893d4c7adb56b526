// Smoke test of the real renderer in a real Chromium through the web host. The call engine has
// not landed yet, so the web host runs on the FakeSoftphone TEST DOUBLE (test/support/); the
// walk covers first run → add a contact by pasting (a typo is refused first) → show my QR code
// (decoded back to my fingerprint), then a call each way with the microphone frames reaching the
// phone. Screenshots go to test-results/. Swap the factory for the engine's to make it real.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.ts';
import jsQRModule from 'jsqr';
import { startWebApp, type WebApp } from '../../src-main/web-host/web-app.ts';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { fingerprintToText, formatFingerprint } from '../../src-shared/fingerprint.ts';
import { FakeSoftphone } from '../support/fake-softphone.ts';

const RESULTS = join(process.cwd(), 'test-results');
type JsQr = typeof jsQRModule.default;
const jsQR: JsQr =
  typeof jsQRModule === 'function' ? (jsQRModule as unknown as JsQr) : jsQRModule.default;

describe('app smoke (web host, Chromium, fake softphone)', () => {
  let work: string;
  let web: WebApp;
  let browser: Browser;
  let page: Page;
  const phones: FakeSoftphone[] = [];
  const relayFp = fingerprintToText(randomBytes(32));
  const bobFp = fingerprintToText(randomBytes(32));

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required for the e2e suite`);
    mkdirSync(RESULTS, { recursive: true });
    work = mkdtempSync(join(tmpdir(), 'wzp-e2e-'));
    const rendererDir = join(work, 'renderer');
    const build = spawnSync(
      process.execPath,
      [
        'node_modules/vite/bin/vite.js',
        'build',
        '--outDir',
        rendererDir,
        '--emptyOutDir',
        '--logLevel',
        'error',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(build.status, 0, `renderer build failed: ${build.stderr}`);
    web = await startWebApp({
      dataDir: join(work, 'data'),
      rendererDir,
      softphoneFactory: async (config) => {
        const p = new FakeSoftphone(Identity.fromSeed(config.identitySeed).fingerprint, config, {
          registerAfterMs: 30,
          everyoneOnline: true,
          autoAnswerMs: 300,
          directAfterMs: 600,
          echo: true,
        });
        phones.push(p);
        return p;
      },
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 900, height: 800 } });
    page.on('pageerror', (e) => console.error('page error:', e.message));
  });

  after(async () => {
    await browser?.close();
    await web?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('first run → add contact by pasting → show QR → calls both ways', async () => {
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(web.host.url);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');

    // First run.
    await page.getByRole('button', { name: 'Create my identity' }).click();
    const myFp = page.getByLabel('my fingerprint');
    await myFp.waitFor();
    const myText = (await myFp.textContent()) ?? '';
    assert.match(myText, /^wzp1 /);
    await page.getByLabel('Relay address').fill('127.0.0.1:4433');
    await page.getByLabel('Relay fingerprint').fill(formatFingerprint(relayFp));
    await page.screenshot({ path: join(RESULTS, 'app-smoke-1-first-run.png') });
    await page.getByRole('button', { name: 'Connect to relay' }).click();
    await page.getByRole('button', { name: 'Add contact' }).waitFor();
    await page.getByText('Relay: registered').waitFor();

    // Add a contact by pasting; a typo is rejected first.
    await page.getByRole('button', { name: 'Add contact' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Bob');
    const grouped = formatFingerprint(bobFp);
    const last = grouped.at(-1) === 'q' ? 'p' : 'q';
    await dialog.getByLabel('Their fingerprint').fill(grouped.slice(0, -1) + last);
    await dialog.getByText(/typo/).waitFor();
    assert.equal(await dialog.getByRole('button', { name: 'Save contact' }).isDisabled(), true);
    await page.screenshot({ path: join(RESULTS, 'app-smoke-2-typo.png') });
    await dialog.getByLabel('Their fingerprint').fill(grouped);
    await dialog.getByText('Fingerprint looks right.').waitFor();
    await dialog.getByRole('button', { name: 'Save contact' }).click();
    const row = page.getByRole('listitem', { name: 'Contact Bob' });
    await row.waitFor();
    await row.getByText('Online').waitFor();
    assert.equal(web.app.snapshot().contacts[0]?.fingerprint, bobFp);
    await page.screenshot({ path: join(RESULTS, 'app-smoke-3-contacts.png') });

    // Show my QR code; it decodes to my fingerprint.
    await page.getByRole('button', { name: 'Show my QR code' }).click();
    const img = page.getByRole('img', { name: 'QR code of my fingerprint' });
    await img.waitFor();
    const pixels = await img.evaluate(async (el) => {
      const im = el as HTMLImageElement;
      await im.decode();
      const c = document.createElement('canvas');
      c.width = im.naturalWidth;
      c.height = im.naturalHeight;
      const g = c.getContext('2d');
      if (!g) throw new Error('no 2d context');
      g.drawImage(im, 0, 0);
      const d = g.getImageData(0, 0, c.width, c.height);
      return { w: d.width, h: d.height, data: Array.from(d.data) };
    });
    const code = jsQR(Uint8ClampedArray.from(pixels.data), pixels.w, pixels.h);
    const mine = web.app.snapshot().identity?.fingerprint;
    assert.ok(mine);
    assert.equal(code?.data, mine.toUpperCase());
    assert.equal(formatFingerprint(mine), myText);
    await page.getByRole('dialog').getByLabel('my fingerprint').waitFor();
    await page.screenshot({ path: join(RESULTS, 'app-smoke-4-qr.png') });
    await page.getByRole('button', { name: 'Close' }).click();

    // Outgoing call: answered by the fake, relay then direct, microphone frames flow.
    await row.getByRole('button', { name: 'Call' }).click();
    await page.getByText('Direct (peer-to-peer)').waitFor({ timeout: 5000 });
    const phone = phones.at(-1);
    assert.ok(phone);
    const call = phone.calls[0];
    assert.ok(call);
    for (let i = 0; i < 100 && call.sentFrames.length < 10; i++) await page.waitForTimeout(50);
    assert.ok(
      call.sentFrames.length >= 10,
      `microphone frames reached the phone (${call.sentFrames.length})`,
    );
    await page.getByRole('button', { name: 'Mute' }).click();
    await page.getByRole('button', { name: 'Unmute' }).waitFor();
    assert.equal(call.muted, true);
    await page.screenshot({ path: join(RESULTS, 'app-smoke-5-in-call.png') });
    await page.getByRole('button', { name: 'Hang up' }).click();
    await row.waitFor();

    // Incoming call, answered with the keyboard shortcut, then hung up.
    const incoming = phone.simulateIncoming(bobFp);
    await page.getByRole('button', { name: 'Answer' }).waitFor();
    await page.getByRole('button', { name: 'Decline' }).waitFor();
    await page.screenshot({ path: join(RESULTS, 'app-smoke-6-incoming.png') });
    await page.keyboard.press('Control+Shift+A');
    await page.getByText('Relay (through the relay server)').waitFor();
    assert.equal(incoming.state, 'connected');
    await page.keyboard.press('Control+Shift+H');
    await row.waitFor();

    await page.getByRole('button', { name: 'History' }).click();
    await page.getByText('Answered').first().waitFor();
    assert.equal(web.app.snapshot().history.length, 2);
    await page.screenshot({ path: join(RESULTS, 'app-smoke-7-history.png') });
    assert.deepEqual(cspViolations, [], 'no CSP violations');
  });
});
