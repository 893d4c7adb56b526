// `npm run web`: start the web host from the command line. The Softphone comes from a module
// that exports `createSoftphone` (a SoftphoneFactory): the engine's by default, or any other
// with --softphone-module (e.g. test/support/fake-softphone.ts, a UI demo with no network).
// The engine factory is loaded lazily so the demo runs even where the engine cannot.
import { parseArgs } from 'node:util';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { isSoftphoneFactoryModule } from '../app/softphone-factory.ts';
import { startWebApp } from './web-app.ts';

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
    json: { type: 'boolean', default: false },
  },
  strict: true,
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${values.port}`);
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

const web = await startWebApp({
  dataDir,
  softphoneFactory: mod.createSoftphone,
  port,
  ...(values['renderer-dir'] ? { rendererDir: resolve(values['renderer-dir']) } : {}),
  log: { info: () => {}, warn: (m) => process.stderr.write(`wzp web: ${m}\n`) },
}).catch((e: unknown) => fail((e as Error).message));

if (values.json) {
  process.stdout.write(
    JSON.stringify({ event: 'listening', url: web.host.url, origin: web.host.origin, dataDir }) +
      '\n',
  );
} else {
  process.stdout.write(
    `wz-phone web host (development/test only)\n  open: ${web.host.url}\n  data: ${dataDir}\n`,
  );
}

const stop = (): void => {
  void web.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
