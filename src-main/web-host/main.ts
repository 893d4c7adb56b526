// `npm run web`: start the web host from the command line. The Softphone comes from a module
// that exports `createSoftphone` (a SoftphoneFactory): the engine's by default, or any other
// with --softphone-module (e.g. test/support/fake-softphone.ts, a UI demo with no network).
// The engine factory is loaded lazily so the demo runs even where the engine cannot. Like the
// Electron shell, it runs the built-in loopback relay when no relay is configured (first run) or
// the configured relay is the built-in one; --no-embedded-relay turns that off.
// One web host per data directory: a second start on the same one prints where the first runs
// (exit code 3, with --json an `already-running` event) instead of sharing its identity.
// --profile NAME picks a second data directory beside the default (profile.ts); the built-in
// relay stays in the default one, shared by every profile that runs.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { InstanceLock } from '../desktop/instance-lock.ts';
import { parseProfileName, profileDataDir } from '../desktop/profile.ts';
import { isSoftphoneFactoryModule } from '../app/softphone-factory.ts';
import {
  DEFAULT_EMBEDDED_RELAY_PORT,
  EmbeddedRelay,
  parseRelayPort,
} from '../desktop/embedded-relay.ts';
import { DEFAULT_RENDERER_DIR, startWebApp, type WebApp } from './web-app.ts';

const ENGINE_FACTORY = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../app/engine-factory.ts',
);

function fail(msg: string): never {
  process.stderr.write(`wzp web: ${msg}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'data-dir': { type: 'string' },
    'renderer-dir': { type: 'string' },
    'softphone-module': { type: 'string' },
    'relay-port': { type: 'string' },
    'no-embedded-relay': { type: 'boolean', default: false },
    profile: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
  strict: true,
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${values.port}`);
const relayPortText = values['relay-port'] ?? process.env.WZP_EMBEDDED_RELAY_PORT;
const relayPort =
  relayPortText === undefined ? DEFAULT_EMBEDDED_RELAY_PORT : parseRelayPort(relayPortText);
if (relayPort === null) fail(`bad built-in relay port "${relayPortText}" (0..65534)`);
const profile = parseProfileName(values.profile ?? process.env.WZP_PROFILE);
if (!profile.ok) fail(profile.error);
const defaultDataDir = resolve(
  values['data-dir'] ??
    process.env.WZP_WEB_DATA_DIR ??
    join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'wz-phone-web'),
);
const dataDir = profileDataDir(defaultDataDir, profile.profile);
const who = profile.profile === null ? 'the default profile' : `profile "${profile.profile}"`;
const instance = InstanceLock.acquire(join(dataDir, 'web-host.lock'));
if (!instance.held) {
  const url = instance.owner.info.url ?? null;
  if (values.json) {
    process.stdout.write(
      JSON.stringify({ event: 'already-running', pid: instance.owner.pid, url, dataDir }) + '\n',
    );
  } else {
    process.stderr.write(
      `wzp web: already running for ${who} (pid ${instance.owner.pid})` +
        (url ? `; open ${url}` : '') +
        '\n',
    );
  }
  process.exit(3);
}
const lock = instance.lock;
const modulePath = values['softphone-module']
  ? resolve(values['softphone-module'])
  : ENGINE_FACTORY;
if (!existsSync(modulePath)) {
  fail(
    `no Softphone factory at ${modulePath}` +
      ' (for a UI-only demo without network use --softphone-module test/support/fake-softphone.ts)',
  );
}
const mod: unknown = await import(pathToFileURL(modulePath).href);
if (!isSoftphoneFactoryModule(mod)) fail(`${modulePath} does not export createSoftphone`);

const rendererDir = values['renderer-dir'] ? resolve(values['renderer-dir']) : DEFAULT_RENDERER_DIR;
// Warnings and errors as JSON lines on stderr, as the relay logs (stdout is for the events).
const log = pino({ level: 'warn', base: { svc: 'wzp-web' } }, pino.destination(2));
const relay = values['no-embedded-relay']
  ? null
  : new EmbeddedRelay({ dataDir: defaultDataDir, defaultPort: relayPort });
let web: WebApp;
try {
  web = await startWebApp({
    dataDir,
    softphoneFactory: mod.createSoftphone,
    rendererDir,
    port,
    log,
    ...(relay ? { relay } : {}),
  });
} catch (e) {
  lock.release();
  fail((e as Error).message);
}
const { host } = web;
lock.update({ url: host.url });

const builtIn = relay?.info ?? null;
const relayInfo = builtIn
  ? {
      address: builtIn.address,
      fingerprint: builtIn.fingerprint,
      builtIn: true,
      runBy: builtIn.runBy,
    }
  : null;
if (values.json) {
  process.stdout.write(
    JSON.stringify({
      event: 'listening',
      url: host.url,
      origin: host.origin,
      dataDir,
      profile: profile.profile,
      relay: relayInfo,
    }) + '\n',
  );
} else {
  const lines = [
    'wz-phone web host (development/test only)',
    `  open: ${host.url}`,
    `  data: ${dataDir}`,
  ];
  if (relayInfo) {
    const by = relayInfo.runBy === 'other' ? ', run by another profile' : '';
    lines.push(`  built-in relay: ${relayInfo.address} (${relayInfo.fingerprint}${by})`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void web
    .close()
    .then(() => lock.release())
    .catch((e: unknown) => log.warn({ err: String(e) }, 'while stopping'))
    .finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
