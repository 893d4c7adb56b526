// `npm start`: run the desktop app. Builds what Electron needs when it is missing or older than
// its sources (the renderer with vite, the main and preload bundles with src-main/electron/
// build.ts), then launches Electron on the bundled main. Where Electron cannot run (its binary
// cannot be downloaded or started, there is no display, or it exits before its window opens), it
// says so in one paragraph and starts the same app in the web host instead, printing its URL.
// Both hosts run the built-in loopback relay when no relay is configured. A second start while
// the app runs says so and exits (Electron's single-instance lock; the web host's lock file).
// `npm start -- --profile NAME` runs another identity beside the default one (its own data
// directory; both use the one built-in relay), e.g. to try a call on one computer.
// Environment: WZP_ELECTRON_BINARY (an Electron binary to use instead of the `electron`
// package's), WZP_NO_ELECTRON=1 (go straight to the web host), WZP_BUILD_DIR (builds; default
// dist/; keep it inside the checkout, where the main bundle finds node_modules),
// WZP_WEB_DATA_DIR and WZP_EMBEDDED_RELAY_PORT (passed on to the hosts).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('..', import.meta.url));
const buildDir = resolve(process.env.WZP_BUILD_DIR ?? join(root, 'dist'));
const rendererDir = join(buildDir, 'renderer');
const electronDir = join(buildDir, 'electron');
const ELECTRON_FETCH_TIMEOUT_MS = 10 * 60_000;
const WINDOW_PATIENCE_MS = 30_000;
const WEB_START_TIMEOUT_MS = 60_000;
const READY_LINE = 'wzp:ready';
const ALREADY_RUNNING_LINE = 'wzp:already-running';

const say = (msg) => process.stdout.write(`wz-phone: ${msg}\n`);

// The same rule as src-main/desktop/profile.ts (this script runs without TypeScript).
const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;
let profile = null;
try {
  const { values } = parseArgs({ options: { profile: { type: 'string' } }, strict: true });
  profile = values.profile ?? null;
} catch (e) {
  process.stderr.write(`wz-phone: ${e.message} (the only option is --profile NAME)\n`);
  process.exit(2);
}
if (profile !== null && !PROFILE_NAME.test(profile)) {
  process.stderr.write(
    `wz-phone: bad profile name "${profile.slice(0, 40)}": use letters, digits, '-' and '_' (at most 32)\n`,
  );
  process.exit(2);
}
const profileArgs = profile === null ? [] : ['--profile', profile];
const whose = profile === null ? '' : ` (profile "${profile}")`;

/** The child that runs the app now (Electron or the web host); Ctrl-C is passed on to it. */
let current = null;
let stopping = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (!current) process.exit(130);
    if (stopping) return;
    stopping = true;
    current.kill('SIGTERM');
    // Never leave a child behind: if it does not stop in time, make it.
    setTimeout(() => current?.kill('SIGKILL'), 10_000).unref();
  });
}

// ---------------------------------------------------------------------------------------------
// Builds

function newestMtime(path) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(join(path, name)));
  }
  return newest;
}

function isStale(outputs, inputs) {
  let oldest = Infinity;
  for (const o of outputs) {
    if (!existsSync(o)) return true;
    oldest = Math.min(oldest, statSync(o).mtimeMs);
  }
  return Math.max(...inputs.map((i) => newestMtime(join(root, i)))) > oldest;
}

function runBuild(what, args) {
  say(`building ${what}…`);
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stdout ?? '');
    process.stderr.write(r.stderr ?? '');
    say(`building ${what} failed (${r.error?.message ?? `exit code ${r.status}`}); see above.`);
    process.exit(1);
  }
}

function buildRenderer() {
  const inputs = ['src-renderer', 'src-shared', 'vite.config.ts'];
  if (!isStale([join(rendererDir, 'index.html')], inputs)) return;
  const vite = join(root, 'node_modules', 'vite', 'bin', 'vite.js');
  runBuild('the interface (vite)', [
    vite,
    'build',
    '--outDir',
    rendererDir,
    '--emptyOutDir',
    '--logLevel',
    'warn',
  ]);
}

function buildElectron() {
  const outputs = [join(electronDir, 'main.mjs'), join(electronDir, 'preload.cjs')];
  if (!isStale(outputs, ['src-main', 'src-shared'])) return;
  runBuild('the Electron bundles (esbuild)', [
    '--import',
    'tsx',
    join(root, 'src-main', 'electron', 'build.ts'),
    '--outdir',
    electronDir,
  ]);
}

// ---------------------------------------------------------------------------------------------
// Electron

/** The first line of an error report that says what went wrong (not a stack frame). */
function gist(text) {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('at ') && !l.startsWith('Downloading'));
  return lines.find((l) => /error|fail|cannot|denied/i.test(l)) ?? lines[0] ?? 'no detail';
}

/** Ask the `electron` package for its binary; it downloads it on first use. */
function resolveElectron() {
  if (process.env.WZP_ELECTRON_BINARY) return { path: resolve(process.env.WZP_ELECTRON_BINARY) };
  if (!existsSync(join(root, 'node_modules', 'electron', 'package.json'))) {
    return { error: 'the electron package is not installed (run npm ci)' };
  }
  if (!existsSync(join(root, 'node_modules', 'electron', 'path.txt'))) {
    say("fetching Electron's binary (first run only, about 100 MB)…");
  }
  const r = spawnSync(
    process.execPath,
    ['-e', "process.stdout.write('\\nWZP_ELECTRON=' + require('electron'))"],
    { cwd: root, encoding: 'utf8', timeout: ELECTRON_FETCH_TIMEOUT_MS },
  );
  const found = /\nWZP_ELECTRON=(.+)$/.exec(r.stdout ?? '');
  if (found?.[1]) return { path: found[1] };
  if (r.error?.code === 'ETIMEDOUT') {
    return {
      error: `its binary could not be downloaded within ${ELECTRON_FETCH_TIMEOUT_MS / 60_000} minutes`,
    };
  }
  return { error: `its binary could not be downloaded (${gist(r.stderr ?? '')})` };
}

/** Launch Electron; resolves with null once its window is open, or why it could not run. */
function launchElectron(binary) {
  return new Promise((resolveLaunch) => {
    const env = { ...process.env, WZP_REPORT_READY: '1' };
    delete env.ELECTRON_RUN_AS_NODE;
    const child = spawn(binary, [join(electronDir, 'main.mjs'), ...profileArgs], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    current = child;
    let ready = false;
    let alreadyRunning = false;
    const early = [];
    const patience = setTimeout(() => {
      if (!ready) say('Electron is running but has not opened its window yet; still waiting…');
    }, WINDOW_PATIENCE_MS);
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line === READY_LINE && !ready) {
        ready = true;
        clearTimeout(patience);
        say('the app is open (quit it from its tray menu, or press Ctrl-C here).');
        resolveLaunch(null);
        return;
      }
      if (line === ALREADY_RUNNING_LINE) {
        alreadyRunning = true;
        return;
      }
      process.stdout.write(line + '\n');
    });
    // Before the window opens Electron's stderr is kept, to explain a failure in one paragraph.
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (ready) process.stderr.write(line + '\n');
      else early.push(line);
    });
    child.on('error', (e) => {
      clearTimeout(patience);
      current = null;
      resolveLaunch(`its binary could not be run (${e.code ?? e.message})`);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(patience);
      if (alreadyRunning) {
        say(`the app is already running${whose}; its window was brought to the front.`);
        say('to run a second identity beside it, start with: npm start -- --profile NAME');
        process.exit(0);
      }
      if (ready || stopping) process.exit(stopping ? 0 : (code ?? 0));
      current = null;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      resolveLaunch(`it ${how} before opening its window (${gist(early.slice(-20).join('\n'))})`);
    });
  });
}

// ---------------------------------------------------------------------------------------------
// The web host

function startWebHost() {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'src-main', 'web-host', 'main.ts'),
      '--json',
      '--renderer-dir',
      rendererDir,
      ...profileArgs,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  current = child;
  let listening = false;
  let alreadyRunning = false;
  const slow = setTimeout(() => {
    if (!listening) say('the web host has not started after a minute; still waiting…');
  }, WEB_START_TIMEOUT_MS);
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (listening) {
      process.stdout.write(line + '\n');
      return;
    }
    let ev;
    try {
      ev = JSON.parse(line);
    } catch {
      process.stdout.write(line + '\n');
      return;
    }
    if (ev?.event === 'already-running') {
      alreadyRunning = true;
      say(
        `the app is already running${whose} in the web host (pid ${ev.pid})` +
          (typeof ev.url === 'string' ? `; open this address: ${ev.url}` : '.'),
      );
      say('to run a second identity beside it, start with: npm start -- --profile NAME');
      return;
    }
    if (ev?.event !== 'listening' || typeof ev.url !== 'string') return;
    listening = true;
    clearTimeout(slow);
    say(
      `the app is running in the web host${whose}. Open this address in a browser on this machine:`,
    );
    process.stdout.write(`\n    ${ev.url}\n\n`);
    if (ev.relay) {
      const by = ev.relay.runBy === 'other' ? ' (run by another profile)' : '';
      say(`built-in relay on ${ev.relay.address}${by}, fingerprint ${ev.relay.fingerprint}`);
    } else {
      say('using the relay configured in the app settings');
    }
    say(`data in ${ev.dataDir}. Press Ctrl-C to stop.`);
  });
  child.on('error', (e) => {
    say(`the web host could not be started (${e.message}).`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    clearTimeout(slow);
    if (stopping) {
      say('stopped.');
      process.exit(0);
    }
    if (alreadyRunning) process.exit(0);
    if (!listening)
      say(`the web host stopped before it was ready (${signal ?? `exit code ${code}`}).`);
    process.exit(code ?? 1);
  });
}

function fallBackToWeb(reason) {
  say(
    `Electron cannot run here: ${reason}. The same app runs in a browser through the web ` +
      'host (the same interface and call engine, served on 127.0.0.1 to this machine only, with ' +
      'the built-in relay when none is configured); starting it now.',
  );
  startWebHost();
}

// ---------------------------------------------------------------------------------------------

buildRenderer();
if (process.env.WZP_NO_ELECTRON === '1') {
  fallBackToWeb('WZP_NO_ELECTRON=1 is set');
} else {
  const electron = resolveElectron();
  let reason = electron.error ?? null;
  if (!reason && !existsSync(electron.path)) {
    reason = process.env.WZP_ELECTRON_BINARY
      ? `its binary could not be run (no file at ${electron.path}, from WZP_ELECTRON_BINARY)`
      : `its binary could not be downloaded (no file at ${electron.path})`;
  }
  if (
    !reason &&
    process.platform === 'linux' &&
    !process.env.DISPLAY &&
    !process.env.WAYLAND_DISPLAY
  ) {
    reason = 'there is no graphical display (neither DISPLAY nor WAYLAND_DISPLAY is set)';
  }
  if (reason) {
    fallBackToWeb(reason);
  } else {
    buildElectron();
    say('starting Electron…');
    const failure = await launchElectron(electron.path);
    if (failure) fallBackToWeb(failure);
  }
}
