// Bundles the Electron shell for packaging: main and preload into dist/electron as CommonJS
// (a sandboxed preload cannot load other files, so it must be one file; the main bundle keeps
// node_modules external so native packages load from the app's node_modules).
// Run: node --import tsx src-main/electron/build.ts (part of `npm run dist`).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

await build({
  absWorkingDir: root,
  entryPoints: { main: 'src-main/electron/main.ts' },
  outdir: 'dist/electron',
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  packages: 'external',
  external: ['electron'],
  sourcemap: false,
  logLevel: 'info',
});

await build({
  absWorkingDir: root,
  entryPoints: { preload: 'src-main/electron/preload.ts' },
  outdir: 'dist/electron',
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
