// The lint config guards the layers (eslint.config.js, docs/ARCHITECTURE.md): for each direction
// the layers forbid, a probe file placed in the importing folder imports a real module of the
// forbidden one, and ESLint with the project's own config must refuse it; for each direction
// they allow, the same kind of probe must pass. The probes are linted from memory (lintText with
// a file path inside the folder), so nothing is written into the source tree.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Real modules of each layer, as an import source seen from the repository root.
const M = {
  shared: 'src-shared/ipc-contract.ts',
  renderer: 'src-renderer/state/app-store.ts',
  base: 'src-main/engine/base/typed-emitter.ts',
  identity: 'src-main/engine/identity/identity.ts',
  media: 'src-main/engine/media/fec.ts',
  transport: 'src-main/engine/transport/endpoint.ts',
  nat: 'src-main/engine/nat/candidates.ts',
  signaling: 'src-main/engine/signaling/relay-link.ts',
  call: 'src-main/engine/call/softphone-api.ts',
  relay: 'src-main/relay/relay-server.ts',
  app: 'src-main/app/app-service.ts',
  cli: 'src-main/cli/args.ts',
  desktop: 'src-main/desktop/profile.ts',
  electron: 'src-main/electron/security.ts',
  preload: 'src-main/electron/preload/preload-api.ts',
  webHost: 'src-main/web-host/web-host.ts',
  test: 'test/support/fixtures.ts',
} as const;
type Layer = keyof typeof M;

// Where a probe of each layer sits.
const DIR: Record<Exclude<Layer, 'test'>, string> = {
  shared: 'src-shared',
  renderer: 'src-renderer/state',
  base: 'src-main/engine/base',
  identity: 'src-main/engine/identity',
  media: 'src-main/engine/media',
  transport: 'src-main/engine/transport',
  nat: 'src-main/engine/nat',
  signaling: 'src-main/engine/signaling',
  call: 'src-main/engine/call',
  relay: 'src-main/relay',
  app: 'src-main/app',
  cli: 'src-main/cli',
  desktop: 'src-main/desktop',
  electron: 'src-main/electron',
  preload: 'src-main/electron/preload',
  webHost: 'src-main/web-host',
};

interface Probe {
  from: Exclude<Layer, 'test'>;
  /** A layer's module, a package name, or an import source as written (Vite's URL imports). */
  to: Layer | { pkg: string } | { source: string };
  typeOnly?: boolean;
}

// Every direction the layers refuse: upward, sideways inside the engine, between hosts, and
// packages of the wrong runtime.
const FORBIDDEN: Probe[] = [
  // The engine is host-agnostic and sits below app and hosts.
  ...(['base', 'identity', 'media', 'transport', 'nat', 'signaling', 'call'] as const).flatMap(
    (from): Probe[] =>
      (['app', 'webHost', 'relay', 'cli', 'desktop', 'electron', 'renderer'] as const).map(
        (to) => ({
          from,
          to,
        }),
      ),
  ),
  // Inside the engine: base < identity, media < transport < nat, signaling < call.
  { from: 'base', to: 'identity' },
  { from: 'base', to: 'media' },
  { from: 'identity', to: 'media' },
  { from: 'media', to: 'identity' },
  { from: 'media', to: 'transport' },
  { from: 'media', to: 'call' },
  { from: 'media', to: 'call', typeOnly: true },
  { from: 'identity', to: 'transport' },
  { from: 'transport', to: 'nat' },
  { from: 'transport', to: 'signaling' },
  { from: 'transport', to: 'call' },
  { from: 'nat', to: 'signaling' },
  { from: 'signaling', to: 'nat' },
  { from: 'nat', to: 'call' },
  { from: 'signaling', to: 'call' },
  // The relay stands on the engine's wire formats and endpoint, not on the client or the app.
  { from: 'relay', to: 'app' },
  { from: 'relay', to: 'app', typeOnly: true },
  { from: 'relay', to: 'call' },
  { from: 'relay', to: 'signaling' },
  { from: 'relay', to: 'cli' },
  { from: 'relay', to: 'electron' },
  { from: 'relay', to: 'webHost' },
  { from: 'relay', to: 'desktop' },
  // The app sits below every host and beside the relay.
  { from: 'app', to: 'relay' },
  { from: 'app', to: 'desktop' },
  { from: 'app', to: 'cli' },
  { from: 'app', to: 'electron' },
  { from: 'app', to: 'webHost' },
  // Hosts stand beside each other; the desktop hosts reach the engine and the relay through
  // desktop/ and the app, and desktop/ serves them, not the other way round.
  { from: 'cli', to: 'electron' },
  { from: 'cli', to: 'webHost' },
  { from: 'cli', to: 'desktop' },
  { from: 'desktop', to: 'electron' },
  { from: 'desktop', to: 'webHost' },
  { from: 'desktop', to: 'cli' },
  { from: 'webHost', to: 'relay' },
  { from: 'electron', to: 'relay' },
  { from: 'webHost', to: 'electron' },
  { from: 'webHost', to: 'cli' },
  { from: 'webHost', to: 'call' },
  { from: 'webHost', to: 'transport' },
  { from: 'electron', to: 'webHost' },
  { from: 'electron', to: 'cli' },
  { from: 'electron', to: 'call' },
  { from: 'electron', to: 'preload' },
  // The sandboxed preload, the renderer and shared code see only src-shared.
  { from: 'preload', to: 'electron' },
  { from: 'preload', to: 'app' },
  { from: 'renderer', to: 'app' },
  { from: 'renderer', to: 'call' },
  { from: 'renderer', to: 'call', typeOnly: true },
  { from: 'renderer', to: 'preload' },
  { from: 'shared', to: 'renderer' },
  { from: 'shared', to: 'call' },
  { from: 'shared', to: 'base' },
  // Product code never reaches into the tests.
  { from: 'call', to: 'test' },
  { from: 'app', to: 'test' },
  // Runtimes: Node's modules never in browser-side code, Electron only in the shell.
  { from: 'shared', to: { pkg: 'node:crypto' } },
  { from: 'renderer', to: { pkg: 'node:fs' } },
  { from: 'preload', to: { pkg: 'node:path' } },
  { from: 'shared', to: { pkg: 'electron' } },
  { from: 'renderer', to: { pkg: 'electron' } },
  { from: 'call', to: { pkg: 'electron' } },
  { from: 'transport', to: { pkg: 'electron' } },
  { from: 'relay', to: { pkg: 'electron' } },
  { from: 'app', to: { pkg: 'electron' } },
  { from: 'cli', to: { pkg: 'electron' } },
  { from: 'webHost', to: { pkg: 'electron' } },
  { from: 'desktop', to: { pkg: 'electron' } },
  // Vite's URL imports are allowed for the renderer's own worklets and the assets only.
  { from: 'renderer', to: { source: '../../src-main/app/app-service.ts?url' } },
  { from: 'renderer', to: { source: '../../src-main/app/app-service.ts?worker&url' } },
];

// Every direction the layers allow (each layer onto what is below it).
const ALLOWED: Probe[] = [
  { from: 'shared', to: 'shared' },
  { from: 'shared', to: { pkg: 'zod' } },
  { from: 'renderer', to: 'shared' },
  { from: 'renderer', to: { pkg: 'react' } },
  { from: 'renderer', to: { source: '../../assets/sounds/ringtone.wav?url' } },
  { from: 'renderer', to: { source: './capture-worklet.ts?worker&url' } },
  { from: 'base', to: 'shared' },
  { from: 'identity', to: 'base' },
  { from: 'media', to: 'base' },
  { from: 'media', to: 'shared' },
  { from: 'transport', to: 'identity' },
  { from: 'transport', to: 'media' },
  { from: 'transport', to: { pkg: 'node:dgram' } },
  { from: 'nat', to: 'transport' },
  { from: 'signaling', to: 'transport' },
  { from: 'call', to: 'nat' },
  { from: 'call', to: 'signaling' },
  { from: 'call', to: 'media' },
  { from: 'relay', to: 'transport' },
  { from: 'relay', to: 'nat' },
  { from: 'relay', to: 'identity' },
  { from: 'relay', to: 'shared' },
  { from: 'app', to: 'call' },
  { from: 'app', to: 'identity' },
  { from: 'app', to: 'shared' },
  { from: 'cli', to: 'app' },
  { from: 'cli', to: 'relay' },
  { from: 'cli', to: 'call' },
  { from: 'desktop', to: 'app' },
  { from: 'desktop', to: 'relay' },
  { from: 'desktop', to: 'identity' },
  { from: 'electron', to: 'desktop' },
  { from: 'electron', to: 'app' },
  { from: 'electron', to: 'shared' },
  { from: 'electron', to: { pkg: 'electron' } },
  { from: 'preload', to: 'shared' },
  { from: 'preload', to: { pkg: 'electron' } },
  { from: 'webHost', to: 'desktop' },
  { from: 'webHost', to: 'app' },
  { from: 'webHost', to: { pkg: 'ws' } },
];

function source(p: Probe): string {
  if (typeof p.to === 'object') return 'pkg' in p.to ? p.to.pkg : p.to.source;
  const fromDir = DIR[p.from].split('/');
  const up = fromDir.map(() => '..').join('/');
  return `${up}/${M[p.to]}`;
}

function label(p: Probe): string {
  const to = typeof p.to === 'object' ? `"${source(p)}"` : p.to;
  return `${p.from} → ${to}${p.typeOnly ? ' (type only)' : ''}`;
}

let eslint: ESLint;

async function boundaryErrors(p: Probe): Promise<string[]> {
  const code = p.typeOnly
    ? `import type * as probe from '${source(p)}';\nexport type Probe = typeof probe;\n`
    : `import * as probe from '${source(p)}';\nexport const value = probe;\n`;
  const [result] = await eslint.lintText(code, {
    filePath: `${ROOT}/${DIR[p.from]}/layer-probe.ts`,
  });
  assert.ok(result, 'ESLint returned no result');
  const fatal = result.messages.filter((m) => m.fatal);
  assert.deepEqual(fatal, [], 'the probe must parse');
  return result.messages
    .filter((m) => m.ruleId?.startsWith('boundaries/'))
    .map((m) => `${m.ruleId}: ${m.message}`);
}

describe('lint guards the layers', () => {
  before(() => {
    eslint = new ESLint({ cwd: ROOT });
  });

  test('every forbidden direction fails lint', async () => {
    const passed: string[] = [];
    for (const p of FORBIDDEN) {
      const errors = await boundaryErrors(p);
      if (errors.length === 0) passed.push(label(p));
      else assert.match(errors[0] as string, /boundaries\/dependencies: .*may not import/);
    }
    assert.deepEqual(passed, [], 'these imports against the layers passed lint');
  });

  test('every allowed direction passes lint', async () => {
    const refused: string[] = [];
    for (const p of ALLOWED) {
      const errors = await boundaryErrors(p);
      if (errors.length > 0) refused.push(`${label(p)}: ${errors.join('; ')}`);
    }
    assert.deepEqual(refused, [], 'these imports along the layers were refused');
  });

  test('a file in a folder that has no place in the layers fails lint', async () => {
    for (const dir of ['src-main/misc', 'src-main/engine', 'src-main']) {
      const [result] = await eslint.lintText('export const x = 1;\n', {
        filePath: `${ROOT}/${dir}/stray.ts`,
      });
      assert.ok(
        result?.messages.some((m) => m.ruleId === 'boundaries/no-unknown-files'),
        `${dir}/stray.ts was accepted`,
      );
    }
  });

  test('the error names both layers', async () => {
    const [first] = await boundaryErrors({ from: 'media', to: 'call' });
    assert.match(first ?? '', /engine-media may not import engine-call/);
    const [pkg] = await boundaryErrors({ from: 'renderer', to: { pkg: 'node:fs' } });
    assert.match(pkg ?? '', /renderer may not import .*"node:fs"/);
  });
});
