// `npm run web`: start the web host from the command line. The Softphone comes from a module
// that exports `createSoftphone` (a SoftphoneFactory): the engine's by default, or any other
// with --softphone-module (e.g. test/support/fake-softphone.ts, a UI demo with no network).
// The engine factory is loaded lazily so the demo runs even where the engine cannot. Like the
// Electron shell, it runs the built-in loopback relay when no relay is configured (first run) or
// the configured relay is the built-in one; --no-embedded-relay turns that off.
import { parseArgs } from 'node:util';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { AppService } from '../app/app-service.ts';
import { isSoftphoneFactoryModule } from '../app/softphone-factory.ts';
import {
  DEFAULT_EMBEDDED_RELAY_PORT,
  EmbeddedRelay,
  parseRelayPort,
} from '../electron/embedded-relay.ts';
import { DEFAULT_RENDERER_DIR } from './web-app.ts';
import { startWebHost, type WebHost } from './web-host.ts';

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
const dataDir = resolve(
  values['data-dir'] ??
    process.env.WZP_WEB_DATA_DIR ??
    join(process.env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'wz-phone-web'),
);
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
if (!existsSync(join(rendererDir, 'index.html'))) {
  fail(`no built renderer in ${rendererDir}: run "npm run build:renderer" first`);
}
const log = { info: () => {}, warn: (m: string) => process.stderr.write(`wzp web: ${m}\n`) };
const relay = values['no-embedded-relay']
  ? null
  : new EmbeddedRelay({ dataDir, defaultPort: relayPort });
const app = new AppService({
  dataDir,
  softphoneFactory: mod.createSoftphone,
  log,
  ...(relay ? { prepareRelay: relay.prepare } : {}),
});
let host: WebHost;
try {
  await app.start();
  host = await startWebHost({ backend: app, rendererDir, port, log });
} catch (e) {
  await app.close().catch(() => {});
  await relay?.close().catch(() => {});
  fail((e as Error).message);
}

const builtIn = relay?.info ?? null;
const relayInfo = builtIn
  ? { address: builtIn.address, fingerprint: builtIn.fingerprint, builtIn: true }
  : null;
if (values.json) {
  process.stdout.write(
    JSON.stringify({
      event: 'listening',
      url: host.url,
      origin: host.origin,
      dataDir,
      relay: relayInfo,
    }) + '\n',
  );
} else {
  const lines = [
    'wz-phone web host (development/test only)',
    `  open: ${host.url}`,
    `  data: ${dataDir}`,
  ];
  if (relayInfo) lines.push(`  built-in relay: ${relayInfo.address} (${relayInfo.fingerprint})`);
  process.stdout.write(lines.join('\n') + '\n');
}

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void host
    .close()
    .then(() => app.close())
    .then(() => relay?.close())
    .catch((e: unknown) => log.warn(`while stopping: ${String(e)}`))
    .finally(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
