// The built-in relay: a RelayServer that a desktop host (the Electron shell, the web host) runs
// in its own process on 127.0.0.1 when the user has no relay of their own, so that the app works
// on first run with nothing to type. Its identity lives in the app's data directory (created
// 0600 on first use). The host hands `prepare` to the AppService, which saves what it returns as
// the user's relay; on later starts the relay runs again whenever the configured relay is this
// one (same fingerprint), on the same port when it is free. A relay the user chose elsewhere is
// left alone. Both desktop hosts run it, so it lives in desktop/ (no `electron` import).
// One per machine user: every profile (profile.ts) gives the default profile's data directory
// here, and `relay.lock` there names the running one. A profile that starts while another runs
// the relay uses that one (so two profiles can call each other), and takes it over on the same
// port when its owner quits.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { parseHostPort } from '../../src-shared/relay-protocol.ts';
import type { RelaySettings } from '../../src-shared/ipc-contract.ts';
import type { Logger } from '../engine/base/logger.ts';
import { Identity, loadIdentity, saveIdentity } from '../engine/call/softphone-api.ts';
import { RelayServer } from '../relay/relay-server.ts';
import { InstanceLock, processAlive } from './instance-lock.ts';

export const RELAY_IDENTITY_FILE = 'relay-identity.json';
export const RELAY_LOCK_FILE = 'relay.lock';
/** How often a profile using another one's relay checks that its owner still runs. */
const OWNER_CHECK_MS = 2000;
/** The QUIC port tried first on first run (STUN and relayed media on the next one). */
export const DEFAULT_EMBEDDED_RELAY_PORT = 7000;
const LOOPBACK = '127.0.0.1';

export type EmbeddedRelayPlan = { run: false } | { run: true; ports: number[] };

const isLoopbackHost = (h: string): boolean =>
  h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);

/**
 * Whether to run the built-in relay, and the QUIC ports to try in order (0: any free port).
 * `own` is the built-in relay's fingerprint, or null when it has no identity yet.
 */
export function planEmbeddedRelay(
  configured: RelaySettings | null,
  own: Fingerprint | null,
  defaultPort: number,
): EmbeddedRelayPlan {
  const candidates: number[] = [];
  if (configured !== null) {
    if (own === null || configured.fingerprint !== own) return { run: false };
    const hp = parseHostPort(configured.address);
    if (!hp || !isLoopbackHost(hp.host)) return { run: false };
    candidates.push(hp.port);
  }
  candidates.push(defaultPort, 0);
  // STUN takes port + 1, so the last port cannot be a QUIC port.
  const ports = candidates.filter((p) => Number.isInteger(p) && p >= 0 && p < 65535);
  return { run: true, ports: [...new Set(ports)] };
}

/** The port for WZP_EMBEDDED_RELAY_PORT-style text: an integer 0..65534, else null. */
export function parseRelayPort(text: string | undefined): number | null {
  if (text === undefined || !/^\d{1,5}$/.test(text.trim())) return null;
  const n = Number(text.trim());
  return n < 65535 ? n : null;
}

/** Load the relay identity from `path`, or create it there (mode 0600) when it is missing. */
export function loadOrCreateRelayIdentity(path: string): Identity {
  if (existsSync(path)) return loadIdentity(path);
  const id = Identity.generate();
  saveIdentity(path, id);
  return id;
}

export interface EmbeddedRelayOptions {
  /** The default profile's data directory; the relay identity and its lock are kept there. */
  dataDir: string;
  /** The QUIC port tried first on first run; 0 means any free port. */
  defaultPort?: number;
  /** Defaults to warnings and errors on stderr. */
  logger?: Logger;
}

export interface EmbeddedRelayInfo {
  /** The QUIC address clients dial ("127.0.0.1:7000"). */
  address: string;
  stunAddress: string;
  fingerprint: Fingerprint;
  identityFile: string;
  /** This process runs it, or another app instance (another profile) does and we use it. */
  runBy: 'this' | 'other';
}

export class EmbeddedRelay {
  readonly identityFile: string;
  readonly lockFile: string;
  readonly #opts: EmbeddedRelayOptions;
  #server: RelayServer | null = null;
  #lock: InstanceLock | null = null;
  /** The relay another instance runs, which we use while it lives. */
  #joined: { address: string; fingerprint: Fingerprint; timer: NodeJS.Timeout } | null = null;
  #takingOver = false;
  #closed = false;

  constructor(opts: EmbeddedRelayOptions) {
    this.#opts = opts;
    this.identityFile = join(opts.dataDir, RELAY_IDENTITY_FILE);
    this.lockFile = join(opts.dataDir, RELAY_LOCK_FILE);
  }

  /** The relay in use, or null when the user's relay is elsewhere (or it is not started). */
  get info(): EmbeddedRelayInfo | null {
    const s = this.#server;
    if (s) {
      return {
        address: s.quicAddress,
        stunAddress: s.stunAddress,
        fingerprint: s.fingerprint,
        identityFile: this.identityFile,
        runBy: 'this',
      };
    }
    const j = this.#joined;
    if (!j) return null;
    const hp = parseHostPort(j.address);
    return {
      address: j.address,
      stunAddress: hp ? `${hp.host}:${hp.port + 1}` : '',
      fingerprint: j.fingerprint,
      identityFile: this.identityFile,
      runBy: 'other',
    };
  }

  /**
   * The AppService's `prepareRelay` hook: start the relay when `configured` is null or is this
   * relay, and return the settings that reach it; null when the user's relay is another one.
   */
  readonly prepare = async (configured: RelaySettings | null): Promise<RelaySettings | null> => {
    if (this.#closed) return null;
    const own =
      configured === null || existsSync(this.identityFile) ? this.#identity().fingerprint : null;
    const plan = planEmbeddedRelay(configured, own, this.#opts.defaultPort ?? 0);
    if (!plan.run) return null;
    if (!this.#server && !this.#joined) {
      const fingerprint = this.#identity().fingerprint;
      const other = this.#runningElsewhere(fingerprint);
      if (other) {
        this.#join(other, fingerprint);
      } else {
        this.#server = await this.#start(plan.ports);
        this.#takeLock();
      }
    }
    if (this.#closed) {
      await this.close();
      return null;
    }
    const info = this.info;
    return info ? { address: info.address, fingerprint: info.fingerprint } : null;
  };

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#joined) clearInterval(this.#joined.timer);
    this.#joined = null;
    const s = this.#server;
    this.#server = null;
    await s?.shutdown('the app is closing');
    this.#lock?.release();
    this.#lock = null;
  }

  /** The address of our relay as another live instance runs it, if one does. */
  #runningElsewhere(fingerprint: Fingerprint): string | null {
    const owner = InstanceLock.read(this.lockFile);
    if (!owner || !processAlive(owner.pid)) return null;
    const { address, fingerprint: theirs } = owner.info;
    if (theirs !== fingerprint || !address || !parseHostPort(address)) return null;
    return address;
  }

  #join(address: string, fingerprint: Fingerprint): void {
    const timer = setInterval(() => void this.#checkOwner(), OWNER_CHECK_MS);
    timer.unref();
    this.#joined = { address, fingerprint, timer };
  }

  /** While we use another instance's relay: when it quits, run the relay on its port. */
  async #checkOwner(): Promise<void> {
    const j = this.#joined;
    if (!j || this.#closed || this.#takingOver) return;
    if (this.#runningElsewhere(j.fingerprint) === j.address) return;
    const hp = parseHostPort(j.address);
    if (!hp) return;
    this.#takingOver = true;
    try {
      const server = await this.#start([hp.port]);
      if (this.#closed) {
        await server.shutdown('the app is closing');
        return;
      }
      clearInterval(j.timer);
      this.#joined = null;
      this.#server = server;
      this.#takeLock();
    } catch {
      // The port is taken (another profile was quicker, or something else): check again later.
    } finally {
      this.#takingOver = false;
    }
  }

  #takeLock(): void {
    const s = this.#server;
    if (!s) return;
    try {
      const r = InstanceLock.acquire(this.lockFile, {
        address: s.quicAddress,
        fingerprint: s.fingerprint,
      });
      // Lost a race with another instance that started its own: both run, each is used by its own.
      if (r.held) this.#lock = r.lock;
    } catch {
      // A lock we cannot write only costs other profiles the sharing.
    }
  }

  #identity(): Identity {
    mkdirSync(this.#opts.dataDir, { recursive: true, mode: 0o700 });
    return loadOrCreateRelayIdentity(this.identityFile);
  }

  async #start(ports: number[]): Promise<RelayServer> {
    const identity = this.#identity();
    const logger =
      this.#opts.logger ??
      pino({ level: 'warn', base: { svc: 'wzp-embedded-relay' } }, pino.destination(2));
    let last: unknown = null;
    for (const port of ports) {
      try {
        return await RelayServer.start({
          identity,
          listen: { host: LOOPBACK, port },
          stun: { host: LOOPBACK, port: port === 0 ? 0 : port + 1 },
          logger,
        });
      } catch (e) {
        // Taken (by another app instance or anything else): the next candidate, finally any port.
        last = e;
      }
    }
    const why = last instanceof Error ? last.message : String(last);
    throw new Error(`the built-in relay found no free port on ${LOOPBACK}: ${why}`);
  }
}
