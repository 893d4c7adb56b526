// Lint: typescript-eslint on strict settings, plus the layers of docs/ARCHITECTURE.md as an
// allow-list (eslint-plugin-boundaries, as VS Code's layering rule does it): every folder of
// src-main, src-shared and src-renderer is an element of one layer, and may import only the
// layers listed for it below. Anything not listed is refused, so a new upward or sideways import
// fails lint instead of passing through a hole in a deny-list. A file in a folder that is no
// element fails too (`no-unknown-files`): a new folder needs a place in the layers first.
// test/unit/lint-layers.test.ts lints a probe per direction and proves each rule holds.
import boundaries from 'eslint-plugin-boundaries';
import tseslint from 'typescript-eslint';

// Inside the engine, lowest first: a folder may import the folders before it in this order.
//   base < identity, media < transport < nat, signaling < call
const ENGINE = {
  base: [],
  identity: ['base'],
  media: ['base'],
  transport: ['base', 'identity', 'media'],
  nat: ['base', 'identity', 'media', 'transport'],
  signaling: ['base', 'identity', 'media', 'transport'],
  call: ['base', 'identity', 'media', 'transport', 'nat', 'signaling'],
};
const engine = (...folders) => folders.map((f) => `engine-${f}`);

// Each layer and what it may import besides itself. Layers: hosts (cli, electron, web-host) →
// app → engine → shared; relay → engine (below the client's signaling and calls) → shared;
// desktop (what the two desktop hosts share: the built-in relay, profiles) between them and
// app and relay; renderer and the Electron preload (the sandboxed side) → shared only.
const LAYERS = {
  shared: [],
  renderer: ['shared'],
  ...Object.fromEntries(
    Object.entries(ENGINE).map(([f, below]) => [`engine-${f}`, [...engine(...below), 'shared']]),
  ),
  relay: [...engine('base', 'identity', 'media', 'transport', 'nat'), 'shared'],
  app: [...engine(...Object.keys(ENGINE)), 'shared'],
  cli: ['app', 'relay', ...engine(...Object.keys(ENGINE)), 'shared'],
  desktop: ['app', 'relay', ...engine(...Object.keys(ENGINE)), 'shared'],
  // The desktop hosts reach the engine and the relay only through desktop/ and the app.
  electron: ['desktop', 'app', 'shared'],
  'web-host': ['desktop', 'app', 'shared'],
  'electron-preload': ['shared'],
};

// Where each element lives. The preload folder comes before the rest of electron/: a file takes
// the first element whose pattern it matches.
const ELEMENTS = [
  { type: 'shared', pattern: 'src-shared' },
  { type: 'renderer', pattern: 'src-renderer' },
  ...Object.keys(ENGINE).map((f) => ({ type: `engine-${f}`, pattern: `src-main/engine/${f}` })),
  { type: 'relay', pattern: 'src-main/relay' },
  { type: 'app', pattern: 'src-main/app' },
  { type: 'cli', pattern: 'src-main/cli' },
  { type: 'desktop', pattern: 'src-main/desktop' },
  { type: 'electron-preload', pattern: 'src-main/electron/preload' },
  { type: 'electron', pattern: 'src-main/electron' },
  { type: 'web-host', pattern: 'src-main/web-host' },
];

// Packages by runtime: Electron only in the shell and its preload; Node's own modules nowhere
// that runs in a browser (shared code, the renderer, the sandboxed preload).
const BROWSER_SIDE = ['shared', 'renderer', 'electron-preload'];
const NOT_ELECTRON = Object.keys(LAYERS).filter(
  (l) => l !== 'electron' && l !== 'electron-preload',
);

const layerPolicies = [
  // External packages are allowed unless a runtime rule below refuses them.
  { allow: { to: { module: { origin: ['external', 'core'] } } } },
  ...Object.entries(LAYERS).map(([layer, below]) => ({
    from: { element: { type: layer } },
    allow: { to: { element: { types: [layer, ...below] } } },
  })),
  // Vite's URL imports name a bundled file, not a module to resolve: the renderer's worklets
  // (`./x.ts?worker&url`) and the sounds in assets/ (`../../assets/sounds/x.wav?url`). ([.]
  // because micromatch drops a literal leading './' from a pattern but not from the source.)
  {
    from: { element: { type: 'renderer' } },
    allow: {
      dependency: {
        source: ['[.]/*.ts[?]worker&url', '[.][.]/[.][.]/assets/**/*.{wav,png,svg}[?]url'],
      },
    },
  },
  {
    from: { element: { types: BROWSER_SIDE } },
    disallow: { to: { module: { origin: 'core' } } },
  },
  {
    from: { element: { types: NOT_ELECTRON } },
    disallow: { to: { module: { origin: 'external', source: 'electron' } } },
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'out/**', 'test-results/**', 'bench-results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-console': 'off',
    },
  },
  {
    files: ['src-main/**', 'src-shared/**', 'src-renderer/**'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { node: { extensions: ['.ts', '.tsx', '.js', '.mjs'] } },
      'boundaries/elements': ELEMENTS,
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          checkAllOrigins: true,
          checkUnknownLocals: true,
          message:
            '{{from.element.type}} may not import {{#if to.element.type}}{{to.element.type}} {{/if}}' +
            '"{{dependency.source}}": imports follow the layers of docs/ARCHITECTURE.md ' +
            '(eslint.config.js lists what each layer may use)',
          policies: layerPolicies,
        },
      ],
      'boundaries/no-unknown-files': 'error',
    },
  },
);
