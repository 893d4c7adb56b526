// The one composition of the web-hosted app, for its users (`npm run web`, main.ts) and its
// tests alike: an AppService on a data directory with the given Softphone factory, optionally
// the built-in relay, served by the web host. Closing stops them in order: host, app, relay.
import { join, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AppService, type Logger } from '../app/app-service.ts';
import type { SeedStore } from '../app/seed-store.ts';
import type { SoftphoneFactory } from '../app/softphone-factory.ts';
import type { EmbeddedRelay } from '../desktop/embedded-relay.ts';
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
  log?: Logger;
  /** The built-in relay: offered to the app at start, and closed with it (also on failure). */
  relay?: EmbeddedRelay;
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
  const relay = opts.relay ?? null;
  const app = new AppService({
    dataDir: opts.dataDir,
    softphoneFactory: opts.softphoneFactory,
    ...(opts.seedStore ? { seedStore: opts.seedStore } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    ...(relay ? { prepareRelay: relay.prepare } : {}),
  });
  let host: WebHost;
  try {
    await app.start();
    host = await startWebHost({
      backend: app,
      rendererDir,
      ...(opts.port !== undefined ? { port: opts.port } : {}),
      ...(opts.token !== undefined ? { token: opts.token } : {}),
      ...(opts.log ? { log: opts.log } : {}),
    });
  } catch (e) {
    await app.close().catch(() => {});
    await relay?.close().catch(() => {});
    throw e;
  }
  return {
    app,
    host,
    close: async () => {
      await host.close();
      await app.close();
      await relay?.close();
    },
  };
}
