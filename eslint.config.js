// Lint: typescript-eslint on strict settings, plus the layering rule of DESIGN.md enforced as
// import restrictions: src-shared imports nothing of ours; the engine never imports electron,
// the relay, the CLI or the renderer; the renderer never imports Node-side code.
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
    files: ['src-renderer/**'],
    rules: upward(
      ['**/src-main/**', 'node:*', 'electron'],
      'The renderer is sandboxed: it reaches the main side only through the typed IPC API.',
    ),
  },
);
