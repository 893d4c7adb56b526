// End-to-end call between two people, each with the real renderer in their own Chromium, their
// own web host on the REAL call engine (engine-factory.ts) and their own data directory, through
// a real `wzp relay` process on loopback. Each microphone is a WAV file through Chromium's fake
// capture device (Alice a 440 Hz tone, Bob an 880 Hz tone). The walk: first run on both → Alice
// adds Bob by pasting his fingerprint, then verifies him by reading the PNG of the QR code his
// app shows → Alice calls, Bob answers → both show the path and a running timer → each engine
// receives the other's tone → Alice mutes and Bob's engine stops receiving her tone (DTX leaves
// only silence), unmutes and it comes back → Alice hangs up and both calls end.
// Direct calls are switched off in both apps' settings: the engine binds 0.0.0.0 and a direct
// attempt could offer host candidates on non-loopback interfaces, and tests send only to
// loopback. So the media path asserted here is the relay's.
// The call sounds are measured at each page's output (test/support/output-tap.ts): Bob's page
// plays the ringtone and Alice's the ringback while his app rings, and both stop on answer. A
// second call is made with the keyboard only (Tab, Enter, Escape).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../support/chromium.ts';
import { startWebApp, type WebApp } from '../../src-main/web-host/web-app.ts';
import { createSoftphone } from '../../src-main/app/engine-factory.ts';
import type { SoftphoneFactory } from '../../src-main/app/softphone-factory.ts';
import { writeWav, type CallHandle } from '../../src-main/engine/call/softphone-api.ts';
import { formatFingerprint } from '../../src-shared/fingerprint.ts';
import { goertzelDb, rmsDbfs } from '../support/audio-analysis.ts';
import { sineTone } from '../support/fixtures.ts';
import { startRelay, type RunningRelay } from '../support/relay-harness.ts';
import { audibleAt, outputSince, tapOutput } from '../support/output-tap.ts';

const RESULTS = join(process.cwd(), 'test-results');
const RATE = 48_000;
/** The ringtone's notes and the ringback's tones (scripts/make-sounds.ts). */
const RINGTONE_HZ = [659.26, 830.61, 987.77];
const RINGBACK_HZ = [440, 480];

/** What one side's engine hands to its host for playout, 20 ms at a time. */
interface HeardFrame {
  at: number;
  dbfs: number;
  /** Level of the far end's tone in this frame (Goertzel, dBFS-ish). */
  toneDb: number;
}

interface Side {
  name: string;
  web: WebApp;
  browser: Browser;
  page: Page;
  heard: HeardFrame[];
}

async function until(
  what: string,
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Frames that carry the far end's tone: clearly above Opus comfort noise and concealment. */
function toneFrames(frames: readonly HeardFrame[], from: number, to = Infinity): number {
  return frames.filter((f) => f.at >= from && f.at < to && f.toneDb > -55).length;
}

function summary(frames: readonly HeardFrame[], from: number, to: number): string {
  const w = frames.filter((f) => f.at >= from && f.at < to);
  const max = (xs: number[]) => (xs.length ? Math.max(...xs).toFixed(1) : 'n/a');
  return (
    `${w.length} frames, ${toneFrames(w, from, to)} with the tone, ` +
    `max level ${max(w.map((f) => f.dbfs))} dBFS, max tone ${max(w.map((f) => f.toneDb))} dB`
  );
}

describe('a call between two apps (web hosts, Chromium, real engine, real relay)', () => {
  let work: string;
  let relay: RunningRelay;
  const sides: Side[] = [];

  async function startSide(name: string, wav: string, toneHz: number): Promise<Side> {
    const heard: HeardFrame[] = [];
    // Hook the ENGINE: every call handle Bob's/Alice's softphone makes or receives reports the
    // audio it decodes for playout, before the renderer gets it.
    const watch = (h: CallHandle): void => {
      h.on('audio', (pcm) =>
        heard.push({
          at: Date.now(),
          dbfs: rmsDbfs(pcm),
          toneDb: goertzelDb(pcm, RATE, toneHz),
        }),
      );
    };
    const factory: SoftphoneFactory = async (config) => {
      const phone = await createSoftphone(config);
      phone.on('incoming', watch);
      const call = phone.call.bind(phone);
      phone.call = async (peer, opts) => {
        const h = await call(peer, opts);
        watch(h);
        return h;
      };
      return phone;
    };
    const web = await startWebApp({
      dataDir: join(work, name, 'data'),
      rendererDir: join(work, 'renderer'),
      softphoneFactory: factory,
    });
    const browser = await launchChromium({ micWav: wav });
    const page = await browser.newPage({ viewport: { width: 900, height: 800 } });
    // Two browsers, two hosts, a relay and two engines on two shared cores: UI waits get 20 s.
    page.setDefaultTimeout(20_000);
    await tapOutput(page);
    page.on('pageerror', (e) => console.error(`${name} page error:`, e.message));
    const side = { name, web, browser, page, heard };
    sides.push(side);
    return side;
  }

  async function shot(side: Side, step: string): Promise<void> {
    await side.page.screenshot({ path: join(RESULTS, `app-call-${step}-${side.name}.png`) });
  }

  /** First run: create the identity, choose the relay and pin its fingerprint, go relay-only. */
  async function firstRun(side: Side): Promise<string> {
    const { page } = side;
    await page.goto(side.web.host.url);
    await page.getByLabel('Your name').fill(side.name === 'alice' ? 'Alice' : 'Bob');
    await page.getByRole('button', { name: 'Create my identity' }).click();
    const myFp = page.getByLabel('my fingerprint');
    await myFp.waitFor();
    const text = (await myFp.textContent()) ?? '';
    assert.match(text, /^wzp1 /);
    await page.getByLabel('Relay address').fill(`${relay.quic.host}:${relay.quic.port}`);
    await page.getByLabel('Relay fingerprint').fill(formatFingerprint(relay.fingerprint));
    await shot(side, '1-first-run');
    await page.getByRole('button', { name: 'Connect to relay' }).click();
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('status').filter({ hasText: 'Online' }).first().waitFor();

    await page.getByRole('button', { name: 'Settings' }).click();
    const direct = page.getByRole('checkbox', { name: 'Try direct (peer-to-peer) calls' });
    const mapping = page.getByRole('checkbox', { name: /Ask my router to open a port/ });
    assert.equal(await mapping.isChecked(), true, 'port mapping is on by default');
    // A controlled checkbox: it flips once the app's new settings come back, not on the click.
    await direct.click();
    await until(
      `${side.name}'s direct calls off`,
      () => side.web.app.snapshot().settings.directCalls === false,
    );
    await page.waitForFunction(
      () =>
        !(
          document.evaluate(
            '//label[contains(., "Try direct")]/input',
            document,
            null,
            XPathResult.FIRST_ORDERED_NODE_TYPE,
          ).singleNodeValue as HTMLInputElement | null
        )?.checked,
    );
    assert.equal(await mapping.isDisabled(), true, 'port mapping only matters for direct calls');
    await page.getByRole('button', { name: 'Contacts' }).click();
    return text;
  }

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is required for the e2e suite`);
    mkdirSync(RESULTS, { recursive: true });
    work = mkdtempSync(join(tmpdir(), 'wzp-e2e-call-'));
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
    // The fake capture device loops the file; whole periods of both tones fit in 4 s exactly.
    const aliceWav = join(work, 'alice-440.wav');
    const bobWav = join(work, 'bob-880.wav');
    writeWav(aliceWav, sineTone({ freq: 440, durationMs: 4000, amplitude: 0.3 }), RATE);
    writeWav(bobWav, sineTone({ freq: 880, durationMs: 4000, amplitude: 0.3 }), RATE);
    // Alice listens for Bob's 880 Hz, Bob for Alice's 440 Hz.
    await startSide('alice', aliceWav, 880);
    await startSide('bob', bobWav, 440);
  });

  after(async () => {
    for (const s of sides) {
      await s.browser.close().catch(() => {});
      await s.web.close().catch(() => {});
    }
    await relay?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  test('first run, add by text and QR, call, answer, hear, mute, hang up', async (t) => {
    const [alice, bob] = sides;
    assert.ok(alice && bob);
    const a = alice.page;
    const b = bob.page;

    const [aliceText, bobText] = await Promise.all([firstRun(alice), firstRun(bob)]);
    const bobFp = bob.web.app.snapshot().identity?.fingerprint;
    assert.ok(bobFp);
    assert.equal(formatFingerprint(bobFp), bobText);

    // Alice adds Bob by pasting his fingerprint: a contact, not yet verified.
    await a.getByRole('button', { name: 'Add contact' }).click();
    let dialog = a.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Bob');
    await dialog.getByLabel('Their fingerprint').fill(bobText);
    await dialog.getByText('Fingerprint looks right.').waitFor();
    await shot(alice, '2-add-by-text');
    await dialog.getByRole('button', { name: 'Save contact' }).click();
    const bobRow = a.getByRole('listitem', { name: 'Contact Bob' });
    await bobRow.waitFor();
    assert.equal(await bobRow.getByText('✓ Verified').count(), 0);

    // Bob shows his QR code; its PNG (as shown on screen) goes into Alice's "QR image" input.
    await b.getByRole('button', { name: 'My QR code and fingerprint' }).click();
    const qr = b.getByRole('img', { name: 'QR code of my fingerprint' });
    await qr.waitFor();
    await qr.evaluate((el) => (el as HTMLImageElement).decode());
    await shot(bob, '3-my-qr');
    const qrPng = join(work, 'bob-qr.png');
    writeFileSync(qrPng, await qr.screenshot());
    await b.getByRole('button', { name: 'Close' }).click();

    await a.getByRole('button', { name: 'Add contact' }).click();
    dialog = a.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Bob');
    await dialog.getByLabel('QR code image').setInputFiles(qrPng);
    await dialog
      .getByText('Read from their QR code: this contact will be marked verified.')
      .waitFor();
    assert.equal(
      (await dialog.getByLabel('Their fingerprint').inputValue()).replace(/\s+/g, ''),
      bobFp,
      'the QR image decodes to Bob’s fingerprint',
    );
    await shot(alice, '4-add-by-qr');
    await dialog.getByRole('button', { name: 'Save contact' }).click();
    await bobRow.getByText('✓ Verified').waitFor();
    const aContacts = alice.web.app.snapshot().contacts;
    assert.equal(aContacts.length, 1, 'the QR confirmed the pasted contact, not a second one');
    assert.equal(aContacts[0]?.fingerprint, bobFp);
    assert.equal(aContacts[0]?.verified, true);

    // Bob adds Alice by text so his incoming screen can name her.
    await b.getByRole('button', { name: 'Add contact' }).click();
    dialog = b.getByRole('dialog');
    await dialog.getByLabel('Name').fill('Alice');
    await dialog.getByLabel('Their fingerprint').fill(aliceText);
    await dialog.getByRole('button', { name: 'Save contact' }).click();
    await b.getByRole('listitem', { name: 'Contact Alice' }).getByText('Online').waitFor();
    await bobRow.getByText('Online').waitFor();
    await shot(alice, '5-contacts');

    // Alice calls; Bob's page rings and plays the ringtone, Alice's plays ringback; Bob answers.
    const ringFrom = Date.now();
    await bobRow.getByRole('button', { name: 'Call Bob' }).click();
    await b.getByRole('main', { name: 'Incoming call' }).getByText('Alice').waitFor();
    await b.getByRole('button', { name: 'Decline' }).waitFor();
    await a.getByText('Ringing…').waitFor();
    await until(
      'the ringtone at Bob’s output and ringback at Alice’s',
      async () =>
        audibleAt(await outputSince(b, ringFrom), RINGTONE_HZ) >= 4 &&
        audibleAt(await outputSince(a, ringFrom), RINGBACK_HZ) >= 4,
    );
    const ringing = {
      bob: await outputSince(b, ringFrom),
      alice: await outputSince(a, ringFrom),
    };
    t.diagnostic(
      `while ringing: Bob's output ${audibleAt(ringing.bob, RINGTONE_HZ)} ringtone samples ` +
        `(max ${Math.max(...ringing.bob.map((x) => x.dbfs)).toFixed(1)} dBFS), Alice's ` +
        `${audibleAt(ringing.alice, RINGBACK_HZ)} ringback samples`,
    );
    await shot(bob, '6-incoming');
    await shot(alice, '6-outgoing');
    await b.getByRole('button', { name: 'Answer' }).click();
    const answeredAt = Date.now();

    // The answer waits for the caller's key share and the relay's media grant: seconds on a
    // loaded machine.
    await until(
      'both engines connected',
      () =>
        alice.web.app.snapshot().call?.state === 'connected' &&
        bob.web.app.snapshot().call?.state === 'connected',
      20_000,
    );
    for (const s of [alice, bob]) {
      await s.page.getByRole('main', { name: 'In call' }).waitFor();
      await s.page.getByText(/^(Direct|Relay) \(/).waitFor({ timeout: 20_000 });
      assert.equal(
        await s.page.getByLabel('media path').textContent(),
        'Relay (through the relay server)',
        `${s.name} shows the relay path (direct calls are off)`,
      );
    }
    // The ringing sounds stop once the call is answered.
    await until('a second of call', () => Date.now() > answeredAt + 1500);
    assert.equal(audibleAt(await outputSince(b, answeredAt + 500), RINGTONE_HZ), 0, 'no ringtone');
    assert.equal(audibleAt(await outputSince(a, answeredAt + 500), RINGBACK_HZ), 0, 'no ringback');
    const timer = (p: Page) => p.getByLabel('call duration').textContent();
    const t0 = await Promise.all([timer(a), timer(b)]);

    // Each engine receives the other's tone (the fake microphones through the renderer).
    const callStart = Date.now();
    await until(
      'Alice’s 440 Hz at Bob’s engine',
      () => toneFrames(bob.heard, callStart) >= 25,
      15_000,
    );
    await until('Bob’s 880 Hz at Alice’s engine', () => toneFrames(alice.heard, callStart) >= 25);
    for (const [i, s] of [alice, bob].entries()) {
      await s.page.waitForFunction(
        (before) => {
          const t = document.querySelector('[aria-label="call duration"]')?.textContent ?? '';
          return /^\d+:\d\d$/.test(t) && t !== before;
        },
        t0[i],
        { timeout: 5000 },
      );
      const now = (await timer(s.page)) ?? '';
      const secs = (t: string) => Number(t.split(':')[0]) * 60 + Number(t.split(':')[1]);
      assert.ok(secs(now) > secs(t0[i] ?? ''), `${s.name}'s timer runs (${t0[i]} → ${now})`);
    }
    // Both screens show the same words to read aloud (from the signed key exchange).
    const sas = (p: Page) => p.locator('.sas strong').textContent();
    await a.locator('.sas strong').waitFor();
    await b.locator('.sas strong').waitFor();
    const [sasA, sasB] = await Promise.all([sas(a), sas(b)]);
    assert.ok(sasA, 'Alice sees words to compare');
    assert.equal(sasA, sasB, 'both sides show the same words to compare');
    await shot(alice, '7-in-call');
    await shot(bob, '7-in-call');

    // Alice mutes: after the jitter buffer drains, Bob's engine hears no tone at all.
    const beforeMute = Date.now();
    const unmutedWindow = summary(bob.heard, beforeMute - 1000, beforeMute);
    await a.getByRole('button', { name: 'Mute' }).click();
    await a.getByRole('button', { name: 'Unmute' }).waitFor();
    await until('Alice muted in her engine', () => alice.web.app.snapshot().call?.muted === true);
    // Her microphone still hears her tone: the app tells her she is muted.
    await a.getByText('You are muted. Unmute to be heard.').waitFor();
    // What Bob's jitter buffer held when Alice muted still plays out first; on a loaded machine
    // that can be seconds. Wait for the first 10 tone-free frames in a row, then measure.
    const mutedAt = Date.now();
    await until(
      'Bob’s playout to reach the muted audio',
      () => {
        const after = bob.heard.filter((f) => f.at >= mutedAt);
        return after.length >= 10 && after.slice(-10).every((f) => f.toneDb <= -55);
      },
      15_000,
    );
    t.diagnostic(`Bob's playout reached the mute after ${Date.now() - mutedAt} ms`);
    const quietFrom = Date.now();
    await until('1.5 s of muted call at Bob', () => Date.now() >= quietFrom + 1500);
    const mutedWindow = summary(bob.heard, quietFrom, Date.now());
    const framesWhileMuted = bob.heard.filter((f) => f.at >= quietFrom).length;
    assert.ok(framesWhileMuted >= 50, `Bob's engine kept playing out (${mutedWindow})`);
    assert.equal(
      toneFrames(bob.heard, quietFrom),
      0,
      `no tone reached Bob while Alice was muted: before ${unmutedWindow}; muted ${mutedWindow}`,
    );
    assert.ok(
      toneFrames(alice.heard, quietFrom) >= 25,
      'Bob is still heard by Alice while she is muted',
    );
    t.diagnostic(`Bob's engine, last second unmuted: ${unmutedWindow}`);
    t.diagnostic(`Bob's engine, Alice muted: ${mutedWindow}`);
    await shot(alice, '8-muted');

    // Unmute: the tone comes back (so the silence above was the mute, not a dead stream).
    await a.getByRole('button', { name: 'Unmute' }).click();
    await a.getByRole('button', { name: 'Mute' }).waitFor();
    await a.getByText('You are muted. Unmute to be heard.').waitFor({ state: 'detached' });
    const unmutedAt = Date.now();
    await until('Alice heard again at Bob', () => toneFrames(bob.heard, unmutedAt) >= 10);

    // Alice hangs up; both calls end and both pages go back to the contacts.
    await a.getByRole('button', { name: 'Hang up' }).click();
    await bobRow.waitFor();
    await b.getByRole('listitem', { name: 'Contact Alice' }).waitFor();
    await until(
      'the call ended on both sides',
      () => alice.web.app.snapshot().call === null && bob.web.app.snapshot().call === null,
    );
    for (const s of [alice, bob]) {
      const h = s.web.app.snapshot().history[0];
      assert.equal(h?.outcome, 'answered', `${s.name}'s history`);
      assert.equal(h?.path, 'relay');
      assert.equal(s.web.app.invalidCounts().audioFrames, 0, `${s.name}: no malformed frames`);
    }
    await shot(alice, '9-ended');
    await shot(bob, '9-ended');
  });

  test('a keyboard-only call: Tab and Enter call and answer, Escape closes a dialog', async () => {
    const [alice, bob] = sides;
    assert.ok(alice && bob);
    const a = alice.page;
    const b = bob.page;
    // Whatever the first test left: no call, both on their main window.
    for (const s of [alice, bob]) {
      const c = s.web.app.snapshot().call;
      if (c) await s.web.app.invoke('hangUp', { callId: c.id });
    }
    await until(
      'no call on either side',
      () => alice.web.app.snapshot().call === null && bob.web.app.snapshot().call === null,
    );
    await a.getByRole('listitem', { name: 'Contact Bob' }).waitFor();

    /** Press Tab until the focused element is named `name` (its label or text). */
    async function tabTo(page: Page, name: string): Promise<void> {
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press('Tab');
        const focused = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          return el?.getAttribute('aria-label') ?? el?.textContent?.trim() ?? '';
        });
        if (focused === name) return;
      }
      assert.fail(`Tab never reached "${name}"`);
    }

    // A dialog opened from the keyboard closes with Escape, and focus returns to its button.
    await tabTo(a, 'Add contact');
    await a.keyboard.press('Enter');
    await a.getByRole('dialog').waitFor();
    await a.keyboard.press('Escape');
    await a.getByRole('dialog').waitFor({ state: 'detached' });
    assert.equal(
      await a.evaluate(() => document.activeElement?.textContent?.trim()),
      'Add contact',
    );

    await tabTo(a, 'Call Bob');
    await a.keyboard.press('Enter');
    await b.getByRole('main', { name: 'Incoming call' }).waitFor();
    await b.getByRole('button', { name: 'Answer' }).waitFor();
    await until(
      'Answer has the focus',
      async () => (await b.evaluate(() => document.activeElement?.textContent)) === 'Answer',
    );
    await b.keyboard.press('Enter');
    for (const s of [alice, bob]) await s.page.getByRole('main', { name: 'In call' }).waitFor();
    await tabTo(a, 'Hang up');
    await a.keyboard.press('Enter');
    await until(
      'the call ended on both sides',
      () => alice.web.app.snapshot().call === null && bob.web.app.snapshot().call === null,
    );
    assert.equal(alice.web.app.snapshot().history[0]?.outcome, 'answered');
  });

  test('devices change mid-call: the call goes on and audio still arrives', async () => {
    const [alice, bob] = sides;
    assert.ok(alice && bob);
    const a = alice.page;
    const b = bob.page;
    await until(
      'no call on either side',
      () => alice.web.app.snapshot().call === null && bob.web.app.snapshot().call === null,
    );
    await a
      .getByRole('listitem', { name: 'Contact Bob' })
      .getByRole('button', { name: 'Call Bob' })
      .click();
    await b.getByRole('button', { name: 'Answer' }).click();
    await until(
      'both engines connected',
      () =>
        alice.web.app.snapshot().call?.state === 'connected' &&
        bob.web.app.snapshot().call?.state === 'connected',
      20_000,
    );
    const callId = bob.web.app.snapshot().call?.id;
    const mic = b.getByLabel('Microphone', { exact: true });
    await mic.waitFor();
    await until('Bob’s microphones listed', async () => (await mic.locator('option').count()) > 2);
    const ids = await mic
      .locator('option')
      .evaluateAll((os) =>
        os.map((o) => (o as HTMLOptionElement).value).filter((v) => v !== '' && v !== 'default'),
      );
    const other = ids[0];
    assert.ok(other, `a second microphone to switch to (${ids.length})`);

    // Bob picks another microphone in the call screen: his tone still reaches Alice.
    await mic.selectOption(other);
    await until('saved', () => bob.web.app.snapshot().settings.audio.inputDeviceId === other);
    const switched = Date.now();
    await until(
      'Bob heard after the switch',
      () => toneFrames(alice.heard, switched) >= 25,
      15_000,
    );

    // That microphone is unplugged (the page's device list changes): the call moves to the
    // default, says so, and Bob is still heard.
    await b.evaluate((gone) => {
      const md = navigator.mediaDevices;
      const list = md.enumerateDevices.bind(md);
      md.enumerateDevices = async () => (await list()).filter((d) => d.deviceId !== gone);
      md.dispatchEvent(new Event('devicechange'));
    }, other);
    await b.getByText(/microphone you chose was disconnected/).waitFor();
    assert.equal(await mic.inputValue(), '', 'the call uses the system default');
    const unplugged = Date.now();
    await until(
      'Bob heard after the unplug',
      () => toneFrames(alice.heard, unplugged) >= 25,
      15_000,
    );
    assert.equal(bob.web.app.snapshot().call?.id, callId, 'the same call went on');
    assert.equal(bob.web.app.snapshot().call?.state, 'connected');
    await shot(bob, '10-device-unplugged');
    await b.getByRole('button', { name: 'Hang up' }).click();
    await until(
      'the call ended on both sides',
      () => alice.web.app.snapshot().call === null && bob.web.app.snapshot().call === null,
    );
  });
});
