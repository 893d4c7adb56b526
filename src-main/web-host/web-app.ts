// One call to bring up the whole web-hosted app: an AppService on a data directory with the
// given Softphone factory, served by the web host. Tests use this with a fake factory today and
// with the engine's real factory for two-party call tests.
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AppLogger } from '../app/app-events.ts';
import { AppService } from '../app/app-service.ts';
import type { SeedStore } from '../app/seed-store.ts';
import type { SoftphoneFactory } from '../app/softphone-factory.ts';
import { startWebHost, type WebHost } from './web-host.ts';

export const DEFAULT_RENDERER_DIR = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../dist/renderer',
);

export interface WebAppOptions {
  dataDir: string;
  softphoneFactory: SoftphoneFactory;
  rendererDir?: string;
  port?: number;
  token?: string;
  seedStore?: SeedStore;
  log?: AppLogger;
}

export interface WebApp {
  app: AppService;
  host: WebHost;
  close(): Promise<void>;
}

export async function startWebApp(opts: WebAppOptions): Promise<WebApp> {
  const rendererDir = opts.rendererDir ?? DEFAULT_RENDERER_DIR;
  if (!existsSync(join(rendererDir, 'index.html'))) {
    throw new Error(`no built renderer in ${rendererDir}: run "npm run build:renderer" first`);
  }
  const app = new AppService({
    dataDir: opts.dataDir,
    softphoneFactory: opts.softphoneFactory,
    ...(opts.seedStore ? { seedStore: opts.seedStore } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  });
  await app.start();
  let host: WebHost;
  try {
    host = await startWebHost({
      backend: app,
      rendererDir,
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
  } catch (e) {
    await app.close();
    throw e;
  }
  return {
    app,
    host,
    close: async () => {
      await host.close();
      await app.close();
    },
  };
}
