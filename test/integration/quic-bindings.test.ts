// Every installer target carries a working QUIC binding. For each target the binding package is
// resolved from package-lock.json (exact version and integrity: no stub, no link), fetched
// through npm's own client (its cache first, else the registry) and checked: its `.node` file is
// a shared library for that platform and CPU(s), and it registers every class and method that
// the binding installed here exports, which is what 2.0.9's JavaScript calls. The packaging side:
// electron-builder accepts the config, unpacks each binding from the asar, keeps other
// platforms' bindings out, and its beforePack hook installs the right one for each pack
// (including both halves of a macOS universal build).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minimatch } from 'minimatch';
import {
  QUIC_TARGETS,
  checkBindingFile,
  describeNativeBinary,
  ensureBinding,
  extractPackage,
  fetchLockedPackages,
  lockedPackage,
  nativeFileOf,
  readLockfile,
  targetForPack,
} from '../../scripts/quic-bindings.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const require = createRequire(import.meta.url);

type Target = (typeof QUIC_TARGETS)[number];
const yaml = require('js-yaml') as { load(text: string): unknown };

/** Names of every export, static and prototype method of a loaded binding. */
function surface(binding: Record<string, unknown>): string[] {
  const names = new Set<string>();
  for (const [k, v] of Object.entries(binding)) {
    names.add(k);
    if (typeof v !== 'function') continue;
    for (const n of Object.getOwnPropertyNames(v))
      if (!['length', 'name', 'prototype', 'caller', 'arguments'].includes(n)) names.add(n);
    const proto = (v as { prototype?: object }).prototype;
    if (proto) for (const n of Object.getOwnPropertyNames(proto)) names.add(n);
  }
  names.delete('constructor');
  return [...names].sort();
}

describe('QUIC native bindings for every installer target', () => {
  let work: string;
  const lock = readLockfile(ROOT);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    overrides: Record<string, string>;
  };
  let apiNames: string[];
  const tarballs = new Map<string, string>();

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'wzp-quic-bindings-'));
    // The binding @matrixai/quic loads on this machine: the API its JavaScript was built for.
    const mod = (await import('@matrixai/quic/native/quiche.js')) as unknown as {
      default: Record<string, unknown>;
    };
    apiNames = surface(mod.default);
    assert.ok(apiNames.length > 50, `the binding exports its API (${apiNames.length} names)`);
    // One npm run fetches every target's package (from its cache when it has them).
    const locked = QUIC_TARGETS.map((t) => lockedPackage(lock, t.pkg));
    const files = fetchLockedPackages(locked, join(work, 'tgz'));
    locked.forEach((l, i) => tarballs.set(l.name, files[i] as string));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('@matrixai/quic asks for exactly these targets, and no binding is a stub', () => {
    const quic = lock.packages['node_modules/@matrixai/quic'] as {
      version: string;
      optionalDependencies: Record<string, string>;
    };
    assert.equal(quic.version, '2.0.9', 'the JavaScript is 2.0.9');
    assert.deepEqual(
      Object.keys(quic.optionalDependencies).sort(),
      QUIC_TARGETS.map((t) => t.pkg).sort(),
    );
    for (const t of QUIC_TARGETS) {
      const locked = lockedPackage(lock, t.pkg);
      if (t.platform !== 'linux') {
        assert.equal(pkg.overrides[t.pkg], locked.version, `${t.pkg} is pinned by overrides`);
        assert.equal(locked.version, '1.2.12');
      }
    }
    assert.ok(
      !Object.keys(lock.packages as object).some((k) => k.includes('quic-native-unpublished')),
      'the old stub package is gone',
    );
  });

  for (const t of QUIC_TARGETS) {
    test(`${t.platform}-${t.arch}: ${t.pkg} from the lockfile holds a ${t.format} binding for ${t.cpus.join('+')}`, () => {
      const locked = lockedPackage(lock, t.pkg);
      const tgz = tarballs.get(t.pkg);
      assert.ok(tgz, `${t.pkg} was fetched`);
      const dir = extractPackage(tgz, join(work, t.pkg.replace('/', '+')));
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name: string;
        version: string;
        os: string[];
        cpu: string[];
      };
      assert.equal(manifest.name, t.pkg);
      assert.equal(manifest.version, locked.version);
      assert.deepEqual(manifest.os, [t.platform]);
      assert.deepEqual([...manifest.cpu].sort(), [...t.cpus].sort());
      const file = nativeFileOf(dir);
      assert.match(file, /\.node$/);
      const d = checkBindingFile(file, t as Target);
      assert.equal(d.library, true);
      // napi-rs registers classes and methods by name: each name 2.0.9's JavaScript calls must be
      // in the binary (a build for another API would miss some).
      const bytes = readFileSync(file);
      assert.ok(bytes.includes('napi_register_module_v1'), 'a Node-API module');
      const missing = apiNames.filter((n) => !bytes.includes(n));
      assert.deepEqual(missing, [], `${t.pkg} lacks ${missing.join(', ')}`);
    });
  }

  test('native headers: junk and wrong platforms are told apart', () => {
    assert.equal(describeNativeBinary(Buffer.alloc(100)), null);
    assert.equal(describeNativeBinary(Buffer.from('#!/bin/sh\necho hi\n'.repeat(8))), null);
    const here = require.resolve('@matrixai/quic-linux-x64');
    if (process.platform === 'linux' && process.arch === 'x64') {
      assert.deepEqual(describeNativeBinary(readFileSync(here)), {
        format: 'elf',
        cpus: ['x64'],
        library: true,
      });
      const win = QUIC_TARGETS.find((t) => t.platform === 'win32') as Target;
      assert.throws(() => checkBindingFile(here, win), /expected a pe library for x64, found elf/);
    }
  });

  test('electron-builder: valid config, bindings unpacked from the asar, one platform each', async () => {
    const config = yaml.load(readFileSync(join(ROOT, 'electron-builder.yml'), 'utf8')) as Record<
      string,
      unknown
    > & {
      asarUnpack: string[];
      beforePack: string;
      linux: { files: string[] };
      mac: { files: string[] };
      win: { files: string[] };
    };
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as {
      validateConfiguration(c: unknown, log: unknown): Promise<void>;
    };
    await validateConfiguration(structuredClone(config), { isEnabled: false, add: () => {} });
    assert.equal(config.beforePack, './scripts/quic-bindings.mjs');
    const platformOf = { linux: 'linux', mac: 'darwin', win: 'win32' } as const;
    for (const t of QUIC_TARGETS) {
      const path = `node_modules/${t.pkg}/node.napi.node`;
      assert.ok(
        config.asarUnpack.some((p) => minimatch(path, p)),
        `${path} is unpacked from the asar`,
      );
      for (const [key, platform] of Object.entries(platformOf)) {
        const excluded = config[key as keyof typeof platformOf].files.some(
          (p) => p.startsWith('!') && minimatch(path, p.slice(1)),
        );
        assert.equal(
          excluded,
          t.platform !== platform,
          `${key} installers ${t.platform === platform ? 'carry' : 'leave out'} ${t.pkg}`,
        );
      }
    }
  });

  test('beforePack picks the binding of each pack, and installs it checked', () => {
    const ctx = (platform: string, arch: number, appOutDir: string) => ({
      electronPlatformName: platform,
      arch,
      appOutDir: join('/out/dist', appOutDir),
    });
    const pick = (c: ReturnType<typeof ctx>) => targetForPack(c).pkg;
    assert.equal(pick(ctx('linux', 1, 'linux-unpacked')), '@matrixai/quic-linux-x64');
    assert.equal(pick(ctx('win32', 1, 'win-unpacked')), '@matrixai/quic-win32-x64');
    assert.equal(pick(ctx('darwin', 3, 'mac-arm64')), '@matrixai/quic-darwin-arm64');
    assert.equal(pick(ctx('darwin', 1, 'mac')), '@matrixai/quic-darwin-x64');
    // Both halves of a universal build carry the same fat binary, so the merge keeps it.
    assert.equal(
      pick(ctx('darwin', 1, 'mac-universal-x64-temp')),
      '@matrixai/quic-darwin-universal',
    );
    assert.equal(
      pick(ctx('darwin', 3, 'mac-universal-arm64-temp')),
      '@matrixai/quic-darwin-universal',
    );
    assert.throws(
      () => targetForPack(ctx('win32', 0, 'win-ia32-unpacked')),
      /no QUIC binding for win32-ia32/,
    );

    // Into a scratch project: the hook's install is the locked package, and a second run keeps it.
    const root = join(work, 'project');
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'package-lock.json'), JSON.stringify(lock));
    const win = QUIC_TARGETS.find((t) => t.platform === 'win32') as Target;
    const file = ensureBinding(win, { root });
    assert.equal(file, join(root, 'node_modules', '@matrixai', 'quic-win32-x64', 'node.napi.node'));
    assert.equal(describeNativeBinary(readFileSync(file))?.format, 'pe');
    assert.equal(ensureBinding(win, { root }), file);
    // A binding of the wrong kind at the target's place is refused, not packed.
    const mac = QUIC_TARGETS.find((t) => t.arch === 'arm64' && t.platform === 'darwin') as Target;
    const macDir = join(root, 'node_modules', '@matrixai', 'quic-darwin-arm64');
    mkdirSync(macDir, { recursive: true });
    writeFileSync(
      join(macDir, 'package.json'),
      JSON.stringify({ version: '1.2.12', main: 'node.napi.node' }),
    );
    writeFileSync(join(macDir, 'node.napi.node'), readFileSync(file));
    assert.throws(
      () => ensureBinding(mac, { root }),
      /expected a mach-o library for arm64, found pe/,
    );
  });
});
