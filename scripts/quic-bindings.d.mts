// Types of scripts/quic-bindings.mjs (plain JavaScript, so electron-builder can load it as a hook).
export interface QuicTarget {
  readonly platform: 'linux' | 'darwin' | 'win32';
  readonly arch: 'x64' | 'arm64' | 'universal';
  readonly pkg: string;
  readonly format: 'elf' | 'mach-o' | 'pe';
  readonly cpus: readonly string[];
}
export interface LockedPackage {
  name: string;
  version: string;
  integrity: string;
}
export interface NativeBinary {
  format: 'elf' | 'mach-o' | 'pe';
  cpus: string[];
  library: boolean;
}
export interface PackContext {
  electronPlatformName: string;
  arch: number;
  appOutDir: string;
}
export interface Lockfile {
  packages: Record<string, Record<string, unknown>>;
}
export const QUIC_TARGETS: readonly QuicTarget[];
export function quicTargetFor(platform: string, arch: string): QuicTarget;
export function lockedPackage(lock: Lockfile, name: string): LockedPackage;
export function readLockfile(root?: string): Lockfile;
export function fetchLockedPackages(list: readonly LockedPackage[], destDir: string): string[];
export function fetchLockedPackage(locked: LockedPackage, destDir: string): string;
export function extractPackage(tgz: string, dir: string): string;
export function nativeFileOf(pkgDir: string): string;
export function describeNativeBinary(b: Buffer): NativeBinary | null;
export function checkBindingFile(file: string, target: QuicTarget): NativeBinary;
export function ensureBinding(
  target: QuicTarget,
  opts?: { root?: string; lock?: Lockfile },
): string;
export function targetForPack(context: PackContext): QuicTarget;
export function beforePack(context: PackContext): Promise<void>;
