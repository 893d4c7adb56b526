// `npm start` (scripts/start.mjs) end to end, without a real Electron: when the `electron`
// package points at no binary, or the binary exits before its window opens, it says so in one
// paragraph and starts the web host, whose printed URL serves the app (checked over HTTP), with
// the built-in relay; Ctrl-C (SIGTERM here) stops it with nothing left listening. With a stand-in
// Electron that reports its window open, it builds the bundles, launches Electron on the bundled
// main, starts no web host, and passes Ctrl-C on. A second start of the same profile says the app
// is already running (and where), `--profile NAME` starts a second identity on the same built-in
// relay, and a bad profile name is one line and exit code 2. Builds go to a temporary directory.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Run {
  child: ChildProcess;
  out: string[];
  err: string[];
  waitFor(re: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Its exit code, once it exits by itself. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

function runStart(env: Record<string, string>, args: string[] = []): Run {
  const child = spawn(process.execPath, [join(ROOT, 'scripts', 'start.mjs'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const err: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (l) => {
    out.push(l);
    for (const w of waiters) w();
  });
  createInterface({ input: child.stderr! }).on('line', (l) => err.push(l));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  child.on('exit', () => {
    for (const w of waiters) w();
  });
  return {
    child,
    out,
    err,
    exited,
    waitFor(re, ms = 8000) {
      return new Promise((res, rej) => {
        const check = (): void => {
          for (const l of out) {
            const m = re.exec(l);
            if (m) {
              done();
              res(m);
              return;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            done();
            rej(new Error(`start.mjs exited before ${re}:\n${out.join('\n')}\n${err.join('\n')}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          rej(new Error(`no ${re} within ${ms} ms:\n${out.join('\n')}\n${err.join('\n')}`));
        }, ms);
        const done = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

/** GET the printed URL like a browser: token → fragment (no cookie) → the page. */
async function fetchApp(url: string): Promise<{ status: number; html: string }> {
  const first = await fetch(url, { redirect: 'manual' });
  assert.equal(first.status, 303);
  assert.equal(first.headers.get('set-cookie'), null);
  const location = first.headers.get('location') ?? '';
  assert.match(location, /^\/#token=/);
  const page = await fetch(new URL(location, url));
  return { status: page.status, html: await page.text() };
}

async function refused(url: string): Promise<boolean> {
  try {
    await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

describe('npm start', () => {
  let dir: string;
  let buildDir: string;
  const runs: Run[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'wzp-start-'));
    buildDir = join(dir, 'build');
  });
  after(async () => {
    for (const r of runs) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(name: string, env: Record<string, string>, args: string[] = []): Run {
    const r = runStart(
      {
        WZP_BUILD_DIR: buildDir,
        WZP_WEB_DATA_DIR: join(dir, name, 'data'),
        WZP_EMBEDDED_RELAY_PORT: '0',
        ...env,
      },
      args,
    );
    runs.push(r);
    return r;
  }

  async function expectWebHost(r: Run, dataDir: string): Promise<void> {
    const [, url] = await r.waitFor(/^\s+(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/, 20_000);
    assert.ok(url);
    const page = await fetchApp(url);
    assert.equal(page.status, 200);
    assert.match(page.html, /<title>wz-phone<\/title>/);
    assert.match(page.html, /<div id="root"><\/div>/);
    await r.waitFor(/built-in relay on 127\.0\.0\.1:\d+, fingerprint wzp1[a-z0-9]+/);
    const idFile = join(dataDir, 'relay-identity.json');
    assert.ok(existsSync(idFile));
    if (process.platform !== 'win32') assert.equal(statSync(idFile).mode & 0o777, 0o600);
    assert.equal(await r.stop(), 0, 'Ctrl-C ends it cleanly');
    assert.ok(await refused(url), 'the web host is gone with it');
  }

  test('no Electron binary: one paragraph, then the web host serves the app', async () => {
    // The electron package's own override: it then names a binary that does not exist.
    const r = start('missing', { ELECTRON_OVERRIDE_DIST_PATH: join(dir, 'no-electron-here') });
    const [line] = await r.waitFor(/^.*Electron cannot run here.*$/, 20_000);
    assert.match(line, /binary could not be downloaded \(no file at .*no-electron-here/);
    assert.match(line, /same app runs in a browser through the web host/);
    await expectWebHost(r, join(dir, 'missing', 'data'));
  });

  test('Electron exits before its window: its reason, then the web host', async () => {
    const fake = join(dir, 'broken-electron');
    writeFileSync(
      fake,
      '#!/bin/sh\necho "[1:FATAL:ozone_platform_x11.cc] Missing X server or \\$DISPLAY" >&2\nexit 1\n',
    );
    chmodSync(fake, 0o755);
    const r = start('broken', { WZP_ELECTRON_BINARY: fake, DISPLAY: ':99' });
    const [line] = await r.waitFor(/^.*Electron cannot run here.*$/, 20_000);
    assert.match(line, /exited with code 1 before opening its window/);
    assert.match(line, /Missing X server/);
    await expectWebHost(r, join(dir, 'broken', 'data'));
  });

  test('Electron that runs: bundles built, launched on the bundled main, no web host', async () => {
    const fake = join(dir, 'fake-electron.mjs');
    writeFileSync(
      fake,
      [
        '#!/usr/bin/env node',
        "import { existsSync } from 'node:fs';",
        'const main = process.argv[2] ?? "";',
        "if (!main.endsWith('main.mjs') || !existsSync(main)) process.exit(9);",
        "if (process.env.WZP_REPORT_READY !== '1') process.exit(8);",
        "console.log('fake-electron: main ' + main);",
        "console.log('wzp:ready');",
        "process.on('SIGTERM', () => { console.log('fake-electron: quit'); process.exit(0); });",
        'setInterval(() => {}, 1000);',
        '',
      ].join('\n'),
    );
    chmodSync(fake, 0o755);
    const r = start('running', { WZP_ELECTRON_BINARY: fake, DISPLAY: ':99' });
    await r.waitFor(/the app is open/, 20_000);
    const [, main] = await r.waitFor(/^fake-electron: main (.*)$/);
    assert.equal(main, join(buildDir, 'electron', 'main.mjs'));
    assert.ok(existsSync(join(buildDir, 'electron', 'preload.cjs')));
    assert.ok(existsSync(join(buildDir, 'renderer', 'index.html')));
    assert.equal(r.out.filter((l) => /Electron cannot run|web host/.test(l)).length, 0);
    assert.equal(await r.stop(), 0);
    assert.ok(r.out.includes('fake-electron: quit'), 'Ctrl-C reached Electron');
  });

  test('Electron already running: the second start says so and exits, no web host', async () => {
    const fake = join(dir, 'second-electron');
    writeFileSync(fake, '#!/bin/sh\necho wzp:already-running\nexit 0\n');
    chmodSync(fake, 0o755);
    const r = start('second', { WZP_ELECTRON_BINARY: fake, DISPLAY: ':99' });
    await r.waitFor(/the app is already running/, 20_000);
    assert.equal(await r.stop(), 0);
    assert.equal(r.out.filter((l) => /Electron cannot run|web host/.test(l)).length, 0);
  });

  test('a second start says the app runs; --profile is a second identity on the same relay', async () => {
    const web = { WZP_NO_ELECTRON: '1' };
    const first = start('profiles', web);
    const [, url] = await first.waitFor(/^\s+(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/, 20_000);
    const [, relayAddress] = await first.waitFor(
      /built-in relay on (127\.0\.0\.1:\d+), fingerprint/,
    );

    const again = start('profiles', web);
    const [line] = await again.waitFor(/already running.*$/, 20_000);
    assert.ok(line.includes(`open this address: ${url}`), line);
    await again.waitFor(/npm start -- --profile NAME/);
    assert.equal(await again.exited, 0);
    assert.equal((await fetchApp(url ?? '')).status, 200, 'the first one is untouched');

    const bob = start('profiles', web, ['--profile', 'bob']);
    const [, bobUrl] = await bob.waitFor(/^\s+(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/, 20_000);
    assert.notEqual(bobUrl, url);
    await bob.waitFor(/web host \(profile "bob"\)/);
    const [, bobRelay] = await bob.waitFor(
      /built-in relay on (127\.0\.0\.1:\d+) \(run by another profile\), fingerprint/,
    );
    assert.equal(bobRelay, relayAddress);
    await bob.waitFor(new RegExp(`data in ${join(dir, 'profiles', 'data-bob')}\\.`));
    assert.equal(await bob.stop(), 0);
    assert.equal(await first.stop(), 0);

    const bad = start('profiles', web, ['--profile', '../evil']);
    assert.equal(await bad.exited, 2);
    assert.deepEqual(bad.err, [
      `wz-phone: bad profile name "../evil": use letters, digits, '-' and '_' (at most 32)`,
    ]);
  });
});
