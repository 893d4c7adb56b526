// Lint: typescript-eslint on strict settings, plus the layering rule of DESIGN.md enforced as
// import restrictions: src-shared imports nothing of ours; the engine never imports electron,
// the relay, the CLI or the renderer; the app service sits on the engine and imports no host
// (electron, web host, CLI) and no relay; the web host imports no Electron (it shares only the
// Electron-free built-in relay module); the renderer never imports Node-side code.
import tseslint from 'typescript-eslint';

const upward = (patterns, message) => ({
  'no-restricted-imports': ['error', { patterns: [{ group: patterns, message }] }],
});

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
    files: ['src-shared/**'],
    rules: upward(
      ['**/src-main/**', '**/src-renderer/**', 'node:*', 'electron'],
      'src-shared is browser-safe and the bottom layer: it imports nothing of ours and no Node.',
    ),
  },
  {
    files: ['src-main/engine/**'],
    rules: upward(
      ['electron', '**/electron/**', '**/relay/**', '**/cli/**', '**/src-renderer/**'],
      'The engine is host-agnostic: it imports only shared code and itself (DESIGN.md layering).',
    ),
  },
  {
    files: ['src-main/relay/**'],
    rules: upward(
      ['electron', '**/electron/**', '**/cli/**', '**/src-renderer/**'],
      'The relay stands beside the CLI and the shell, not on them.',
    ),
  },
  {
    files: ['src-main/app/**'],
    rules: upward(
      [
        'electron',
        '**/electron/**',
        '**/web-host/**',
        '**/relay/**',
        '**/cli/**',
        '**/src-renderer/**',
      ],
      'The app service sits on the engine: hosts (electron, web-host, cli) and the relay sit on it.',
    ),
  },
  {
    files: ['src-main/web-host/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/**', '**/src-renderer/**'],
              message:
                'The web host stands beside the CLI and serves the renderer, not imports it.',
            },
            {
              // The `electron` package, and every file of the shell but the built-in relay.
              regex: '^electron($|/)|(^|/)electron/(?!embedded-relay\\.ts$)',
              message:
                'The web host runs without Electron: of the shell it shares only embedded-relay.ts.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src-main/electron/embedded-relay.ts'],
    rules: upward(
      ['electron', '**/web-host/**', '**/cli/**', '**/src-renderer/**'],
      'The built-in relay is shared with the web host, so it must not need Electron.',
    ),
  },
  {
    files: ['src-renderer/**'],
    rules: upward(
      ['**/src-main/**', 'node:*', 'electron'],
      'The renderer is sandboxed: it reaches the main side only through the typed IPC API.',
    ),
  },
);
