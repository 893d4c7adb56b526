// Bundles the Electron shell: main as an ES module (main.mjs) and preload as CommonJS (a
// sandboxed preload cannot load other files, so it must be one file). The main bundle keeps
// node_modules external so native packages load from the app's node_modules, and it must be ESM:
// @matrixai/quic and @matrixai/logger export only an "import" entry, which require() cannot load.
// Run: node --import tsx src-main/electron/build.ts [--outdir DIR] (part of `npm run dist` and
// of `npm start`; DIR defaults to dist/electron and must sit beside the renderer build).
import { build, type BuildOptions } from 'esbuild';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({ options: { outdir: { type: 'string' } }, strict: true });
const outdir = resolve(root, values.outdir ?? 'dist/electron');

// What both bundles share: one file each, Electron left to the runtime.
const common: BuildOptions = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  platform: 'node',
  external: ['electron'],
  sourcemap: false,
  logLevel: 'info',
};

await build({
  ...common,
  entryPoints: { main: 'src-main/electron/main.ts' },
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  target: 'node22',
  packages: 'external',
});

await build({
  ...common,
  entryPoints: { preload: 'src-main/electron/preload/preload.ts' },
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  target: 'chrome130',
  minify: true,
});
