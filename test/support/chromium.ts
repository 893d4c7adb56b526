// Debian's Chromium for browser tests, through playwright-core: headless, no network but
// loopback, a fake microphone (optionally fed from a WAV file), and sound allowed to play.
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.WZP_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(opts: { micWav?: string } = {}): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Playwright mutes audio by default; calls play what they receive.
    ignoreDefaultArgs: ['--mute-audio'],
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // Everything but loopback resolves nowhere (IP literals go through the rules too).
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      ...(opts.micWav ? [`--use-file-for-fake-audio-capture=${opts.micWav}`] : []),
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}
