// Bundles the Electron shell: main as an ES module (main.mjs) and preload as CommonJS (a
// sandboxed preload cannot load other files, so it must be one file). The main bundle keeps
// node_modules external so native packages load from the app's node_modules, and it must be ESM:
// @matrixai/quic and @matrixai/logger export only an "import" entry, which require() cannot load.
// Run: node --import tsx src-main/electron/build.ts [--outdir DIR] (part of `npm run dist` and
// of `npm start`; DIR defaults to dist/electron and must sit beside the renderer build).
import { build } from 'esbuild';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));
const { values } = parseArgs({ options: { outdir: { type: 'string' } }, strict: true });
const outdir = resolve(root, values.outdir ?? 'dist/electron');

await build({
  absWorkingDir: root,
  entryPoints: { main: 'src-main/electron/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  packages: 'external',
  external: ['electron'],
  sourcemap: false,
  logLevel: 'info',
});

await build({
  absWorkingDir: root,
  entryPoints: { preload: 'src-main/electron/preload/preload.ts' },
  outdir,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'chrome130',
  external: ['electron'],
  minify: true,
  sourcemap: false,
  logLevel: 'info',
});
