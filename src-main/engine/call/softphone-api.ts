// The call engine's public face, as hosts (the wzp CLI, the Electron main process, the web host,
// the app service, and their tests) use it: the interfaces the engine implements, the function
// that starts one, and the few engine facilities a host needs to feed it (identities, WAV files,
// a frame clock). Hosts import nothing else from the engine.
// Audio crosses this boundary as 20 ms frames of 48 kHz mono 16-bit PCM (960 samples).
import type { CallId, HangupReason, MediaPath } from '../../../src-shared/call-signals.ts';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import type { Logger } from '../base/logger.ts';
import type { Identity } from '../identity/identity.ts';
import type { ExpectedPeer } from '../transport/endpoint.ts';
import type { Address } from '../transport/errors.ts';
import { Ticker } from './ticker.ts';

export { Identity, IdentityError, loadIdentity, saveIdentity } from '../identity/identity.ts';
export type { IdentityErrorKind } from '../identity/identity.ts';
export { checkWavTarget, readWav, writeWav, WavError, WavStreamWriter } from '../media/wav.ts';
export type { DecodedWav } from '../media/wav.ts';
export { RelayPinStore } from '../signaling/relay-pins.ts';
export type { Address, ExpectedPeer, Logger };

export const PCM_FRAME_SAMPLES = 960;
const PCM_FRAME_MS = 20;

export type CallDirection = 'outgoing' | 'incoming';
export type CallState = 'calling' | 'ringing' | 'connected' | 'ended';

export type CallEndReason =
  | 'hangup-local'
  | 'hangup-remote'
  | 'declined'
  | 'busy'
  | 'no-answer'
  | 'cancelled'
  | 'offline'
  | 'remote-gone'
  | 'relay-lost'
  /** Nothing heard from the peer on any media path for ~15 s (see call/liveness.ts). */
  | 'connection-lost'
  | 'security'
  | 'error';

export interface CallStatsSnapshot {
  path: MediaPath | null;
  rttMs: number | null;
  lossPct: number;
  jitterMs: number | null;
  bitrateKbps: number;
  tier: number;
  framesSent: number;
  framesReceived: number;
  framesConcealed: number;
  framesLate: number;
  framesRecovered: number;
  jitterBufferMs: number;
  /**
   * Whether the peer is heard on any media path: 'reconnecting' after ~2 s of nothing. While it
   * is, the figures above that describe the peer's media are stale: rttMs and jitterMs are null.
   */
  liveness: CallLiveness;
  /** Milliseconds since the last authenticated packet from the peer (0 before media starts). */
  silentMs: number;
}

export type CallLiveness = 'live' | 'reconnecting';

export interface CallEndInfo {
  reason: CallEndReason;
  detail?: string;
  framesSent: number;
  framesReceived: number;
  framesConcealed: number;
  durationS: number;
}

export interface DirectOutcome {
  ok: boolean;
  reason: string;
  /** The direct handshake met a certificate of another identity than the peer's. */
  interception: boolean;
  elapsedMs: number;
  sinceFirstCandidateMs?: number;
}

export type CallEvents = {
  state: [CallState];
  /** Media moved to another path (also the first path when media starts). */
  path: [{ path: MediaPath; reason: string }];
  quality: [{ tier: number; bitrateKbps: number; reason: string }];
  stats: [CallStatsSnapshot];
  /** The peer went silent on every path ('reconnecting'), or is heard again ('live'). */
  liveness: [{ state: CallLiveness; silentMs: number }];
  /** 20 ms of decoded audio to play, paced in real time by the engine. */
  audio: [Int16Array];
  /** The outcome of a direct-path attempt (the call stays on the relay when it fails). */
  direct: [DirectOutcome];
  /** The short authentication string both sides can compare aloud. */
  verified: [{ sas: string }];
  ended: [CallEndInfo];
};

export interface CallHandle {
  readonly id: CallId;
  readonly peer: Fingerprint;
  readonly direction: CallDirection;
  readonly state: CallState;
  readonly path: MediaPath | null;
  readonly muted: boolean;
  /**
   * The name the caller's invite gave (incoming calls; null if none). The caller chose it: show
   * it marked as theirs, never as a contact's name.
   */
  readonly displayName?: string | null;
  on<K extends keyof CallEvents>(event: K, handler: (...args: CallEvents[K]) => void): () => void;
  answer(): Promise<void>;
  decline(): Promise<void>;
  hangup(reason?: HangupReason): Promise<void>;
  setMuted(muted: boolean): void;
  /** One 20 ms microphone frame (960 samples at 48 kHz). */
  sendAudio(frame: Int16Array): void;
  stats(): CallStatsSnapshot;
}

export type RelayConnectionState =
  'connecting' | 'registered' | 'reconnecting' | 'failed' | 'stopped';

/** What the home router said to our request for a port mapping (see README "Port mapping"). */
export type PortMappingStatus =
  | {
      ok: true;
      protocol: 'pcp' | 'nat-pmp' | 'upnp';
      /** "ip:port" peers can reach us on. */
      external: string;
      gateway: string;
      /** 0: a permanent UPnP lease, removed when the phone closes. */
      lifetimeS: number;
      elapsedMs: number;
    }
  | { ok: false; reason: string; gateway: string | null; elapsedMs: number };

export type SoftphoneEvents = {
  incoming: [CallHandle];
  /** Someone called while we were in a call: the engine answered "busy" for us. */
  'rejected-busy': [{ peer: Fingerprint; callId: CallId; displayName: string | null }];
  /** Once at start (and when a renewal changes or loses the mapping); not when turned off. */
  'port-mapping': [PortMappingStatus];
  presence: [{ fingerprint: Fingerprint; online: boolean }];
  relay: [{ state: RelayConnectionState; detail?: string }];
};

/** What the relay told us when we registered. */
export interface RelayRegistration {
  /** The relay's identity, as its certificate proved it. */
  relay: Fingerprint;
  /** Which relay of the list it is (the first, or one failed over to). */
  address: Address;
  /** The relay's STUN / relay-media UDP address, as reachable from here. */
  stun: Address;
}

export interface Softphone {
  readonly fingerprint: Fingerprint;
  readonly relayState: RelayConnectionState;
  /** The current registration with the relay (null while not registered). */
  readonly registration: RelayRegistration | null;
  on<K extends keyof SoftphoneEvents>(
    event: K,
    handler: (...args: SoftphoneEvents[K]) => void,
  ): () => void;
  call(peer: Fingerprint, opts?: { direct?: boolean; displayName?: string }): Promise<CallHandle>;
  watchPresence(fingerprints: readonly Fingerprint[]): Promise<void>;
  setDirectCalls(enabled: boolean): void;
  close(): Promise<void>;
}

export interface SoftphoneOptions {
  identity: Identity;
  relay: Address;
  /** The relay's fingerprint, or a trust-on-first-use decision (RelayPinStore). */
  relayTrust: ExpectedPeer;
  /**
   * Further relays of the same cluster, in order: when the one in use dies the phone registers
   * with the next, and calls go on (a direct call without a gap; a relayed one on the new relay).
   */
  fallbackRelays?: readonly { address: Address; trust: ExpectedPeer }[];
  bindHost?: string;
  bindPort?: number;
  /** STUN servers to use instead of the relay's own (none is contacted unless configured). */
  stunServers?: Address[];
  directCalls?: boolean;
  /**
   * Ask the home router for a mapping of our socket's port (PCP, NAT-PMP, UPnP-IGD), default
   * true. Never with a relay on loopback: a local setup sends nothing onto a real network.
   */
  portMapping?: boolean;
  /** How long a call's attempt keeps waiting for a port mapping still being probed. */
  portMappingWaitMs?: number;
  ringTimeoutMs?: number;
  /** Where the engine logs (e.g. pino); default: nowhere. */
  logger?: Logger;
}

/**
 * Bind the UDP socket, connect to the relay and register; resolves once registered. The engine
 * is loaded here, on first use, so that a host which needs only this module's types and helpers
 * (the app service over a test double, `wzp identity`) never loads the QUIC native binding.
 */
export async function startSoftphone(opts: SoftphoneOptions): Promise<Softphone> {
  const { SoftphoneEngine } = await import('./softphone.ts');
  return SoftphoneEngine.start(opts);
}

export interface FrameClock {
  stop(): void;
}

/**
 * Call `onFrame` once per 20 ms frame of real time, drift-free (a late event loop catches up
 * rather than slipping): for hosts that feed a call from a file or a device of their own.
 */
export function startFrameClock(onFrame: () => void): FrameClock {
  const ticker = new Ticker(PCM_FRAME_MS, () => onFrame());
  return { stop: () => ticker.stop() };
}
