// The softphone's lifetime: started when an identity and a relay are configured, started again
// when a setting it was built from changes, retried with a growing delay while the relay cannot
// be reached, and never retried against a relay with another key. It also follows the relay's
// state and the contacts' presence, which the snapshot shows.
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import {
  RelaySettingsSchema,
  type RelaySettings,
  type RelayStateView,
  type Snapshot,
} from '../../src-shared/ipc-contract.ts';
import type { CallHandle, Softphone } from '../engine/call/softphone-api.ts';
import { errorFields, type Logger } from '../engine/base/logger.ts';
import type { AppEvents } from './app-events.ts';
import type { AppStore } from './app-store.ts';
import type { SoftphoneFactory } from './softphone-factory.ts';

/** A relay that could not be reached at start is tried again after 5 s, then up to every 60 s. */
const RELAY_RETRY_FIRST_MS = 5_000;
const RELAY_RETRY_MAX_MS = 60_000;

export interface PhoneLifetimeOptions {
  softphoneFactory: SoftphoneFactory;
  store: AppStore;
  events: AppEvents;
  log: Logger;
  /** The identity seed, null until one exists. */
  seed: () => Uint8Array | null;
  onIncoming: (handle: CallHandle) => void;
  /** The engine turned a caller away as busy (we were in a call). */
  onRejectedBusy?: (b: { peer: string; callId: string; displayName: string | null }) => void;
  /** The phone is about to close: end the call in progress. */
  beforeStop: () => Promise<void>;
}

export class PhoneLifetime {
  readonly #opts: PhoneLifetimeOptions;
  #phone: Softphone | null = null;
  #phoneOffs: Array<() => void> = [];
  #generation = 0;
  #closed = false;
  #online = new Map<Fingerprint, boolean>();
  #relay: Snapshot['relay'] = { state: 'unconfigured', detail: null };
  /** After a failed start (relay unreachable): the next attempt, with a growing delay. */
  #retry: { timer: NodeJS.Timeout | null; delayMs: number; failures: number } = {
    timer: null,
    delayMs: RELAY_RETRY_FIRST_MS,
    failures: 0,
  };

  constructor(opts: PhoneLifetimeOptions) {
    this.#opts = opts;
  }

  get phone(): Softphone | null {
    return this.#phone;
  }

  get relayState(): RelayStateView {
    return this.#relay.state;
  }

  relayView(): Snapshot['relay'] {
    return { ...this.#relay };
  }

  isOnline(fingerprint: Fingerprint): boolean {
    return this.#online.get(fingerprint) ?? false;
  }

  /** The user chose a relay: the next failure is the first again. */
  resetRetry(): void {
    this.#retry.delayMs = RELAY_RETRY_FIRST_MS;
    this.#retry.failures = 0;
  }

  /** No more starts: the retry timer is cancelled and `restart` does nothing. */
  close(): void {
    this.#closed = true;
    if (this.#retry.timer) clearTimeout(this.#retry.timer);
  }

  /**
   * Asked once at start, before going online: a host that runs a relay of its own starts it and
   * offers its settings, saved as the user's relay when they differ.
   */
  async prepareRelay(
    prepare: (configured: RelaySettings | null) => Promise<RelaySettings | null>,
  ): Promise<void> {
    const { store, events, log } = this.#opts;
    const configured = store.settings.relay;
    let offered: unknown;
    try {
      offered = await prepare(configured ? { ...configured } : null);
    } catch (e) {
      log.warn(errorFields(e), 'the built-in relay did not start');
      events.notice('warning', `The built-in relay could not start: ${(e as Error).message}`);
      return;
    }
    if (offered === null) return;
    const parsed = RelaySettingsSchema.safeParse(offered);
    if (!parsed.success) {
      log.warn('the host offered invalid relay settings; ignored');
      return;
    }
    const next = parsed.data;
    if (configured?.address === next.address && configured.fingerprint === next.fingerprint) return;
    store.setSettings({ ...store.settings, relay: next });
  }

  async restart(): Promise<void> {
    if (this.#retry.timer) clearTimeout(this.#retry.timer);
    this.#retry.timer = null;
    await this.stop();
    if (this.#closed) return;
    const settings = this.#opts.store.settings;
    const relay = settings.relay;
    const seed = this.#opts.seed();
    if (!seed || !relay) {
      this.#setRelay('unconfigured', null);
      return;
    }
    const generation = ++this.#generation;
    this.#setRelay('connecting', null);
    let phone: Softphone;
    try {
      phone = await this.#opts.softphoneFactory({
        identitySeed: Uint8Array.from(seed),
        relay: { address: relay.address, fingerprint: relay.fingerprint },
        stunServers: [...settings.stunServers],
        directCalls: settings.directCalls,
        portMapping: settings.portMapping,
      });
    } catch (e) {
      if (generation !== this.#generation) return;
      this.#startFailed(relay.address, e as Error);
      return;
    }
    this.resetRetry();
    if (generation !== this.#generation || this.#closed) {
      await phone.close().catch(() => {});
      return;
    }
    this.#phone = phone;
    this.#phoneOffs = [
      phone.on('relay', ({ state, detail }) => {
        this.#setRelay(state, detail ?? null);
        if (state === 'registered') this.watchPresence();
        if (state !== 'registered') this.#online.clear();
      }),
      phone.on('presence', ({ fingerprint, online }) => {
        this.#online.set(fingerprint, online);
        this.#opts.events.queueSnapshot();
      }),
      phone.on('incoming', (handle) => this.#opts.onIncoming(handle)),
      phone.on('rejected-busy', (b) => this.#opts.onRejectedBusy?.(b)),
    ];
    this.#setRelay(phone.relayState, null);
    if (phone.relayState === 'registered') this.watchPresence();
  }

  async stop(): Promise<void> {
    this.#generation++;
    const phone = this.#phone;
    if (!phone) return;
    for (const off of this.#phoneOffs) off();
    this.#phoneOffs = [];
    this.#phone = null;
    this.#online.clear();
    await this.#opts.beforeStop();
    await phone
      .close()
      .catch((e: unknown) => this.#opts.log.warn(errorFields(e), 'closing the phone failed'));
  }

  /** Ask the relay for the presence of every contact (again, after the list changed). */
  watchPresence(): void {
    const phone = this.#phone;
    if (!phone || phone.relayState !== 'registered') return;
    phone
      .watchPresence(this.#opts.store.contacts.map((c) => c.fingerprint))
      .catch((e: unknown) => this.#opts.log.warn(errorFields(e), 'watchPresence failed'));
  }

  /**
   * The phone could not start. A relay with another key is a security stop: said in one
   * sentence (the fingerprints stay in the relay's detail, shown on request), never retried.
   * Anything else (unreachable, refused) is retried with a growing delay, and the reason and the
   * time of the next attempt are shown.
   */
  #startFailed(address: string, e: Error): void {
    const { events } = this.#opts;
    if ((e as { code?: unknown }).code === 'peer-identity-mismatch') {
      this.#retry.failures = 0;
      this.#setRelay('failed', e.message);
      events.notice(
        'error',
        `The relay at ${address} answered with a different key than the one this app trusts. ` +
          'Someone may be intercepting, or the relay was reinstalled: check its fingerprint ' +
          'with its operator (Settings, Relay).',
      );
      return;
    }
    const first = this.#retry.failures++ === 0;
    const delay = this.#retry.delayMs;
    this.#retry.delayMs = Math.min(RELAY_RETRY_MAX_MS, delay * 2);
    this.#relay = {
      state: 'reconnecting',
      detail: `cannot reach the relay at ${address}: ${e.message}`.slice(0, 500),
      retryAt: Date.now() + delay,
    };
    events.queueSnapshot();
    if (first) {
      events.notice(
        'warning',
        `Cannot reach the relay at ${address} (${e.message.slice(0, 200)}). The app keeps trying.`,
      );
    }
    this.#retry.timer = setTimeout(() => {
      this.#retry.timer = null;
      if (!this.#closed) void this.restart();
    }, delay);
    this.#retry.timer.unref();
  }

  #setRelay(state: RelayStateView, detail: string | null): void {
    this.#relay = { state, detail: detail === null ? null : detail.slice(0, 500), retryAt: null };
    this.#opts.events.queueSnapshot();
  }
}
