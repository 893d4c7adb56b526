// The QUIC engine's native binding for every installer target. @matrixai/quic 2.0.9 (the
// JavaScript we run) publishes its binding for linux-x64 only; its 1.2.12 bindings, built from
// the same quiche 0.18.0, cover darwin-arm64, darwin-x64, darwin-universal and win32-x64 and
// export exactly the classes and methods 2.0.9's JavaScript calls (package.json `overrides` pins
// them; FINDINGS.md has the measurement). npm installs only the build machine's binding, so
// electron-builder's `beforePack` hook (below) puts the target's binding into node_modules
// before each pack: the exact version and integrity the lockfile holds, fetched through npm's
// own client (its cache first), checked to be a shared library for that platform and CPU.
// electron-builder then packs it and unpacks it from the asar (electron-builder.yml).
// The same functions back test/unit/quic-bindings.test.ts.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tar from 'tar';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * Every target an installer is built for, the binding package it carries, and what that
 * package's `.node` file must be. `universal` is a macOS build holding both CPUs.
 * @type {ReadonlyArray<{ platform: 'linux' | 'darwin' | 'win32', arch: 'x64' | 'arm64' | 'universal', pkg: string, format: 'elf' | 'mach-o' | 'pe', cpus: string[] }>}
 */
export const QUIC_TARGETS = Object.freeze([
  { platform: 'linux', arch: 'x64', pkg: '@matrixai/quic-linux-x64', format: 'elf', cpus: ['x64'] },
  {
    platform: 'darwin',
    arch: 'arm64',
    pkg: '@matrixai/quic-darwin-arm64',
    format: 'mach-o',
    cpus: ['arm64'],
  },
  {
    platform: 'darwin',
    arch: 'x64',
    pkg: '@matrixai/quic-darwin-x64',
    format: 'mach-o',
    cpus: ['x64'],
  },
  {
    platform: 'darwin',
    arch: 'universal',
    pkg: '@matrixai/quic-darwin-universal',
    format: 'mach-o',
    cpus: ['arm64', 'x64'],
  },
  { platform: 'win32', arch: 'x64', pkg: '@matrixai/quic-win32-x64', format: 'pe', cpus: ['x64'] },
]);

export function quicTargetFor(platform, arch) {
  const t = QUIC_TARGETS.find((x) => x.platform === platform && x.arch === arch);
  if (!t) {
    const known = QUIC_TARGETS.map((x) => `${x.platform}-${x.arch}`).join(', ');
    throw new Error(`no QUIC binding for ${platform}-${arch} (known: ${known})`);
  }
  return t;
}

/** The lockfile's entry for an installed package: its exact version and integrity. */
export function lockedPackage(lock, name) {
  const entry = lock?.packages?.[`node_modules/${name}`];
  if (!entry) throw new Error(`${name} is not in package-lock.json`);
  if (entry.link)
    throw new Error(`${name} is a link in package-lock.json, not a published package`);
  if (typeof entry.version !== 'string' || !/^sha512-/.test(entry.integrity ?? '')) {
    throw new Error(`${name} has no version and sha512 integrity in package-lock.json`);
  }
  return { name, version: entry.version, integrity: entry.integrity };
}

export function readLockfile(root = ROOT) {
  return JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
}

function npmCommand() {
  // Under `npm run`, npm_execpath is npm's own CLI script: run it with this Node (no shell).
  const cli = process.env.npm_execpath;
  if (cli && /npm-cli\.js$/.test(cli)) return { cmd: process.execPath, pre: [cli] };
  return { cmd: process.platform === 'win32' ? 'npm.cmd' : 'npm', pre: [] };
}

/**
 * Fetch packages' tarballs with one npm run (its cache first) and check each against the
 * lockfile. Returns the tarball paths in the same order.
 */
export function fetchLockedPackages(list, destDir) {
  mkdirSync(destDir, { recursive: true });
  const { cmd, pre } = npmCommand();
  const specs = list.map((p) => `${p.name}@${p.version}`);
  const r = spawnSync(
    cmd,
    [...pre, 'pack', ...specs, '--pack-destination', destDir, '--prefer-offline', '--json'],
    { encoding: 'utf8', shell: cmd.endsWith('.cmd') },
  );
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit code ${r.status}`).trim().split('\n')[0];
    throw new Error(`npm pack ${specs.join(' ')} failed: ${why}`);
  }
  let packed;
  try {
    packed = JSON.parse(r.stdout);
  } catch {
    packed = null;
  }
  if (!Array.isArray(packed) || packed.length !== list.length) {
    throw new Error(`npm pack ${specs.join(' ')} printed no list of files`);
  }
  return list.map((locked) => {
    const entry = packed.find((e) => e?.name === locked.name && e?.version === locked.version);
    if (typeof entry?.filename !== 'string') {
      throw new Error(`npm pack did not fetch ${locked.name}@${locked.version}`);
    }
    const file = join(destDir, basename(entry.filename));
    const actual = `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
    if (actual !== locked.integrity) {
      throw new Error(
        `${locked.name}@${locked.version}: the tarball does not match package-lock.json`,
      );
    }
    return file;
  });
}

export function fetchLockedPackage(locked, destDir) {
  return fetchLockedPackages([locked], destDir)[0];
}

/** Unpack an npm tarball (its `package/` folder) into `dir`. */
export function extractPackage(tgz, dir) {
  mkdirSync(dir, { recursive: true });
  tar.x({ file: tgz, cwd: dir, strip: 1, sync: true });
  return dir;
}

/** The package's native file: its `main` when that is a `.node`, else the only `.node` in it. */
export function nativeFileOf(pkgDir) {
  const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  if (typeof manifest.main === 'string' && manifest.main.endsWith('.node')) {
    const main = join(pkgDir, manifest.main);
    if (existsSync(main)) return main;
  }
  const found = readdirSync(pkgDir).filter((f) => f.endsWith('.node'));
  if (found.length !== 1) throw new Error(`${pkgDir} holds ${found.length} .node files`);
  return join(pkgDir, found[0]);
}

const MACHO_CPU = new Map([
  [0x01000007, 'x64'],
  [0x0100000c, 'arm64'],
]);
const ELF_CPU = new Map([
  [62, 'x64'],
  [183, 'arm64'],
]);
const PE_CPU = new Map([
  [0x8664, 'x64'],
  [0xaa64, 'arm64'],
]);

/**
 * What a native file is, from its header: ELF, Mach-O (thin or fat) or PE; the CPUs it holds;
 * whether it is a loadable shared library (ET_DYN, MH_BUNDLE/MH_DYLIB, a PE DLL). Null when it
 * is none of these.
 * @param {Buffer} b
 * @returns {{ format: 'elf' | 'mach-o' | 'pe', cpus: string[], library: boolean } | null}
 */
export function describeNativeBinary(b) {
  if (b.length < 64) return null;
  if (b.readUInt32BE(0) === 0x7f454c46 && b[4] === 2 && b[5] === 1) {
    return {
      format: 'elf',
      cpus: [ELF_CPU.get(b.readUInt16LE(18)) ?? 'unknown'],
      library: b.readUInt16LE(16) === 3,
    };
  }
  const thin = (off) => {
    if (off + 16 > b.length || b.readUInt32LE(off) !== 0xfeedfacf) return null;
    const type = b.readUInt32LE(off + 12);
    return {
      cpu: MACHO_CPU.get(b.readUInt32LE(off + 4)) ?? 'unknown',
      library: type === 6 || type === 8,
    };
  };
  const one = thin(0);
  if (one) return { format: 'mach-o', cpus: [one.cpu], library: one.library };
  if (b.readUInt32BE(0) === 0xcafebabe) {
    const n = b.readUInt32BE(4);
    if (n < 1 || n > 8 || 8 + n * 20 > b.length) return null;
    const slices = [];
    for (let i = 0; i < n; i++) {
      const s = thin(b.readUInt32BE(8 + i * 20 + 8));
      if (!s) return null;
      slices.push(s);
    }
    return {
      format: 'mach-o',
      cpus: slices.map((s) => s.cpu).sort(),
      library: slices.every((s) => s.library),
    };
  }
  if (b.readUInt16LE(0) === 0x5a4d) {
    const pe = b.readUInt32LE(0x3c);
    if (pe + 24 > b.length || b.readUInt32BE(pe) !== 0x50450000) return null;
    return {
      format: 'pe',
      cpus: [PE_CPU.get(b.readUInt16LE(pe + 4)) ?? 'unknown'],
      library: (b.readUInt16LE(pe + 22) & 0x2000) !== 0,
    };
  }
  return null;
}

/** Throws unless `file` is a shared library for the target's platform and CPUs. */
export function checkBindingFile(file, target) {
  const d = describeNativeBinary(readFileSync(file));
  const want = `${target.format} library for ${target.cpus.join('+')}`;
  const got = d
    ? `${d.format} ${d.library ? 'library' : 'non-library'} for ${d.cpus.join('+')}`
    : 'unknown';
  if (
    !d ||
    d.format !== target.format ||
    !d.library ||
    d.cpus.join('+') !== [...target.cpus].sort().join('+')
  ) {
    throw new Error(`${file}: expected a ${want}, found ${got}`);
  }
  return d;
}

/**
 * Make sure node_modules holds the target's binding (the locked version, checked); fetch and
 * unpack it when it is missing. Returns the path of its `.node` file.
 */
export function ensureBinding(target, { root = ROOT, lock = readLockfile(root) } = {}) {
  const locked = lockedPackage(lock, target.pkg);
  const dest = join(root, 'node_modules', ...target.pkg.split('/'));
  if (existsSync(join(dest, 'package.json'))) {
    const installed = JSON.parse(readFileSync(join(dest, 'package.json'), 'utf8'));
    if (installed.version === locked.version) {
      const file = nativeFileOf(dest);
      checkBindingFile(file, target);
      return file;
    }
  }
  const work = mkdtempSync(join(tmpdir(), 'wzp-quic-binding-'));
  try {
    const tgz = fetchLockedPackage(locked, work);
    const staged = extractPackage(tgz, join(work, 'package'));
    checkBindingFile(nativeFileOf(staged), target);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dirname(dest), { recursive: true });
    try {
      renameSync(staged, dest);
    } catch {
      // Another file system (tmp on tmpfs): unpack again in place.
      extractPackage(tgz, dest);
    }
    return nativeFileOf(dest);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// electron-builder's Arch enum (builder-util): ia32 0, x64 1, armv7l 2, arm64 3, universal 4.
const ARCH_NAMES = ['ia32', 'x64', 'armv7l', 'arm64', 'universal'];

/**
 * The target of one electron-builder pack. A macOS universal build packs an x64 and an arm64
 * app (into "<appOutDir>-x64-temp" and "-arm64-temp") and merges them, so both halves must carry
 * the same fat binding: the universal one.
 */
export function targetForPack(context) {
  const platform = context.electronPlatformName;
  let arch = ARCH_NAMES[context.arch] ?? String(context.arch);
  if (platform === 'darwin' && /universal.*-(x64|arm64)-temp$/.test(basename(context.appOutDir))) {
    arch = 'universal';
  }
  return quicTargetFor(platform, arch);
}

/** electron-builder `beforePack` hook (electron-builder.yml). */
export async function beforePack(context) {
  const target = targetForPack(context);
  const file = ensureBinding(target);
  console.log(`  • QUIC binding for ${target.platform}-${target.arch}: ${file}`);
}
