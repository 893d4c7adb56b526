// The designed interface in a real Chromium through the web host, on the FakeSoftphone TEST
// DOUBLE (no network: the real engine is in app-call.test.ts). The walk: first run (name →
// identity → fingerprint and QR → relay → Continue) → add a contact (a typo refused first) →
// contact detail → my QR code (decoded back to my fingerprint; Escape closes it, Tab stays in it)
// → an outgoing call ringing, answered, muted → an incoming call (announced, Answer takes focus)
// → an unknown caller (their name is not shown as a contact's; History offers Add contact,
// prefilled) → History in plain words → Settings (no desktop-only settings on the web) → 420 px
// wide. Every screen is saved in light and dark under test-results/ui-*.png.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import jsQRModule from 'jsqr';
import { CHROMIUM, launchChromium } from '../support/chromium.ts';
import { startWebApp, type WebApp } from '../../src-main/web-host/web-app.ts';
import { Identity } from '../../src-main/engine/call/softphone-api.ts';
import { fingerprintToText, formatFingerprint } from '../../src-shared/fingerprint.ts';
import { FakeSoftphone } from '../support/fake-softphone.ts';

const RESULTS = join(process.cwd(), 'test-results');
type JsQr = typeof jsQRModule.default;
const jsQR: JsQr =
  typeof jsQRModule === 'function' ? (jsQRModule as unknown as JsQr) : jsQRModule.default;

describe('app interface (web host, Chromium, fake softphone)', () => {
  let work: string;
  let web: WebApp;
  let browser: Browser;
  let page: Page;
  const phones: FakeSoftphone[] = [];
  const relayFp = fingerprintToText(randomBytes(32));
  const bobFp = fingerprintToText(randomBytes(32));
  const strangerFp = fingerprintToText(randomBytes(32));

  /** Save this screen in light and dark. */
  async function shots(name: string): Promise<void> {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      await page.screenshot({ path: join(RESULTS, `ui-${name}-${colorScheme}.png`) });
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

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
          autoAnswerMs: null,
          directAfterMs: 600,
          echo: true,
        });
        phones.push(p);
        return p;
      },
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 960, height: 720 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => console.error('page error:', e.message));
  });

  after(async () => {
    await browser?.close();
    await web?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('first run, contacts, QR, calls both ways, a stranger, history, settings', async () => {
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(web.host.url);
    assert.equal(new URL(page.url()).search, '', 'the token left the address bar');

    // First run: a name, then the identity with its fingerprint and QR, then the relay.
    const nameField = page.getByLabel('Your name');
    await nameField.waitFor();
    assert.ok(await nameField.evaluate((el) => el === document.activeElement), 'name has focus');
    await nameField.fill('Alice');
    await shots('01-welcome');
    await page.getByRole('button', { name: 'Create my identity' }).click();
    await page.getByRole('heading', { name: "You're ready, Alice" }).waitFor();
    const myText = (await page.getByLabel('my fingerprint').textContent()) ?? '';
    assert.match(myText, /^wzp1 /);
    await page.getByRole('img', { name: 'QR code of my fingerprint' }).waitFor();
    assert.equal(web.app.snapshot().settings.displayName, 'Alice');
    await page.getByLabel('Relay address').fill('127.0.0.1:4433');
    await page.getByLabel('Relay fingerprint').fill(formatFingerprint(relayFp));
    await shots('02-ready');
    await page.getByRole('button', { name: 'Connect to relay' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('status').filter({ hasText: 'Online' }).first().waitFor();
    await shots('03-empty');

    // Add a contact by pasting; a typo is refused first.
    await page.getByRole('button', { name: 'Add contact' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Bob');
    const grouped = formatFingerprint(bobFp);
    const last = grouped.at(-1) === 'q' ? 'p' : 'q';
    await dialog.getByLabel('Their fingerprint').fill(grouped.slice(0, -1) + last);
    await dialog.getByText(/typo/).waitFor();
    assert.equal(await dialog.getByRole('button', { name: 'Save contact' }).isDisabled(), true);
    await shots('04-add-contact-typo');
    await dialog.getByLabel('Their fingerprint').fill(grouped);
    await dialog.getByText('Fingerprint looks right.').waitFor();
    await dialog.getByRole('button', { name: 'Save contact' }).click();
    const row = page.getByRole('listitem', { name: 'Contact Bob' });
    await row.getByText('Online').waitFor();
    assert.equal(web.app.snapshot().contacts[0]?.fingerprint, bobFp);
    // The list shows no fingerprints; the detail pane shows Bob's, where it matters.
    assert.equal(await page.locator('.contact-list .fingerprint').count(), 0);
    await row.getByRole('button', { name: /^Bob, Online/ }).click();
    await page.getByLabel('fingerprint of Bob').waitFor();
    await shots('05-contact-detail');

    // My QR code decodes to my fingerprint; Tab stays in the dialog; Escape closes it.
    await page.getByRole('button', { name: 'My QR code and fingerprint' }).click();
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
    await shots('06-my-qr');
    for (let i = 0; i < 5; i++) {
      await page.keyboard.press('Tab');
      assert.ok(
        await page.evaluate(() => !!document.activeElement?.closest('dialog')),
        'focus stays in the dialog',
      );
    }
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });

    // Outgoing call: calling, ringing, answered; the path moves to direct; mute.
    await row.getByRole('button', { name: 'Call Bob' }).click();
    await page.getByText('Calling…').waitFor();
    const phone = phones.at(-1);
    assert.ok(phone);
    const out = phone.calls.at(-1);
    assert.ok(out);
    out.remoteRinging();
    await page.getByText('Ringing…').waitFor();
    await shots('07-outgoing-ringing');
    out.remoteAnswer();
    await page.getByText('Direct (peer-to-peer)').waitFor();
    out.emitVerified('tiger apple 42');
    for (let i = 0; i < 100 && out.sentFrames.length < 10; i++) await page.waitForTimeout(50);
    assert.ok(out.sentFrames.length >= 10, `microphone frames reach the phone`);
    await page.getByLabel('Your microphone level').waitFor();
    await shots('08-in-call');
    await page.getByRole('button', { name: 'Mute' }).click();
    await page.getByRole('button', { name: 'Unmute', pressed: true }).waitFor();
    assert.equal(out.muted, true);
    await shots('09-in-call-muted');
    await page.getByRole('button', { name: 'Hang up' }).click();
    await row.waitFor();

    // Incoming from Bob: announced to screen readers, Answer has focus; Enter answers.
    const incoming = phone.simulateIncoming(bobFp);
    await page.getByRole('main', { name: 'Incoming call' }).waitFor();
    await page.getByText('Incoming call from Bob').waitFor();
    const focused = await page.evaluate(() => document.activeElement?.textContent ?? '');
    assert.equal(focused, 'Answer', 'Answer takes focus');
    await shots('10-incoming');
    await page.keyboard.press('Enter');
    await page.getByText('Relay (through the relay server)').waitFor();
    assert.equal(incoming.state, 'connected');
    await page.keyboard.press('Control+Shift+H');
    await row.waitFor();

    // A stranger calls: no contact name, marked, their fingerprint shown to check.
    const stranger = phone.simulateIncoming(strangerFp);
    await page.getByRole('heading', { name: 'Unknown caller' }).waitFor();
    await page.getByText('not in your contacts').waitFor();
    await page.getByLabel('caller fingerprint').waitFor();
    await shots('11-incoming-stranger');
    stranger.remoteHangup();
    await row.waitFor();

    // History: plain words, a missed-call badge, Call back and Add contact (prefilled).
    const historyTab = page.getByRole('button', { name: /^History/ });
    assert.match((await historyTab.getAttribute('aria-label')) ?? '', /1 missed/);
    await shots('12-missed-badge');
    await historyTab.click();
    const entries = page.locator('.history-entry');
    await entries.first().waitFor();
    assert.equal(await entries.count(), 3);
    await page.getByRole('listitem', { name: /: Missed$/ }).waitFor();
    await page.getByRole('listitem', { name: 'Bob: Incoming call' }).waitFor();
    await page.getByRole('listitem', { name: 'Bob: Outgoing call' }).waitFor();
    await page.getByRole('button', { name: 'Call back Bob' }).first().waitFor();
    await shots('13-history');
    await page.getByRole('button', { name: 'Add this caller to contacts' }).click();
    const addDialog = page.getByRole('dialog');
    assert.equal(
      (await addDialog.getByLabel('Their fingerprint').inputValue()).replace(/\s+/g, ''),
      strangerFp,
    );
    await page.keyboard.press('Escape');
    await addDialog.waitFor({ state: 'detached' });

    // Settings: no desktop-only settings in the web host.
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Audio' }).waitFor();
    assert.equal(await page.getByText('Start at login').count(), 0);
    assert.equal(await page.getByText('Keep running in the tray').count(), 0);
    await shots('14-settings');

    // 420 px wide: one column, nothing wider than the window.
    await page.setViewportSize({ width: 420, height: 760 });
    await page.getByRole('button', { name: 'Contacts' }).click();
    await row.waitFor();
    const overflow = await page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.equal(overflow, 0, 'no horizontal scrolling at 420 px');
    await shots('15-narrow-contacts');
    await row.getByRole('button', { name: /^Bob, Online/ }).click();
    await page.getByRole('button', { name: 'Back to contacts' }).waitFor();
    await shots('16-narrow-detail');
    await page.getByRole('button', { name: 'Back to contacts' }).click();
    const again = phone.simulateIncoming(bobFp);
    await page.getByRole('button', { name: 'Answer' }).click();
    await page.getByRole('button', { name: 'Hang up' }).waitFor();
    await shots('17-narrow-in-call');
    again.remoteHangup();
    await row.waitFor();
    assert.deepEqual(cspViolations, [], 'no CSP violations');
  });
});
