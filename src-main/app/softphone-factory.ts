// How a host obtains a Softphone: the app service calls a factory with the identity and the
// user's settings whenever they change. The engine provides the real one (engine-factory.ts);
// tests and the UI demo pass a fake one. Keeping this one function type the only seam means the
// app, the Electron shell and the web host never depend on engine internals.
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type { Softphone } from '../engine/call/softphone-api.ts';

export interface SoftphoneConfig {
  /** The 32-byte Ed25519 identity seed; the factory must not keep copies it does not need. */
  identitySeed: Uint8Array;
  relay: { address: string; fingerprint: Fingerprint };
  /** "host:port" STUN servers; empty means use the one the relay announces. */
  stunServers: readonly string[];
  directCalls: boolean;
  /** Ask the home router for a port mapping (the user may turn it off in Settings). */
  portMapping: boolean;
}

export type SoftphoneFactory = (config: SoftphoneConfig) => Promise<Softphone>;

/** What a factory module exports (see web-host `--softphone-module`). */
export interface SoftphoneFactoryModule {
  createSoftphone: SoftphoneFactory;
}

export function isSoftphoneFactoryModule(m: unknown): m is SoftphoneFactoryModule {
  return (
    typeof m === 'object' &&
    m !== null &&
    typeof (m as { createSoftphone?: unknown }).createSoftphone === 'function'
  );
}
