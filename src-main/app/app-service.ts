// The application service: everything the desktop app does that is not a window. It implements
// the IPC contract (src-shared/ipc-contract.ts) on top of an injected Softphone factory: it
// validates every request and audio frame (invalid ones are dropped and counted), dispatches the
// commands, and composes the parts that do the work: AppStore (settings, contacts, history on
// disk), PhoneLifetime (the softphone, the relay, presence), CallControl (the call in progress
// and its outcome), AudioRoute (frames to and from the renderer) and AppEvents (notices and
// snapshots). Hosts (the Electron shell, the web host, tests) only move bytes in and out of it.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import {
  parseRequest,
  type CommandArgs,
  type CommandName,
  type IpcEvent,
  type IpcResponse,
  type IpcResult,
  type ParsedRequest,
  type RelaySettings,
  type Settings,
  type Snapshot,
} from '../../src-shared/ipc-contract.ts';
import { Identity } from '../engine/call/softphone-api.ts';
import { AppError } from './app-error.ts';
import { errorFields, silentLogger, type Logger } from '../engine/base/logger.ts';
import { AppEvents } from './app-events.ts';
import { AppStore } from './app-store.ts';
import { AudioRoute } from './audio-route.ts';
import { CallControl } from './call-control.ts';
import * as contacts from './contacts.ts';
import type { IpcBackend } from './ipc-backend.ts';
import { PhoneLifetime } from './phone-lifetime.ts';
import { FileSeedStore, type SeedStore } from './seed-store.ts';
import type { SoftphoneFactory } from './softphone-factory.ts';

export interface AppServiceOptions {
  dataDir: string;
  softphoneFactory: SoftphoneFactory;
  /** Defaults to an owner-only file `identity.json` in the data directory. */
  seedStore?: SeedStore;
  now?: () => number;
  randomId?: () => string;
  generateSeed?: () => Uint8Array;
  /** Where the app logs (hosts pass pino); default: nowhere. */
  log?: Logger;
  maxHistory?: number;
  /** Called after settings change, e.g. for the shell to apply "start at login". */
  onSettingsChanged?: (settings: Settings) => void;
  /**
   * Asked once at start, before going online, with the configured relay (null on first run).
   * A host that runs a relay of its own (the built-in loopback relay) starts it here and returns
   * its settings, which are then saved as the user's relay; null keeps the setting as it is.
   */
  prepareRelay?: (configured: RelaySettings | null) => Promise<RelaySettings | null>;
}

/** The logging seam hosts hand the app (and the web host): pino fits it as it is. */
export { silentLogger, type Logger };

export interface InvalidCounts {
  requests: number;
  audioFrames: number;
}

export class AppService implements IpcBackend {
  readonly #opts: AppServiceOptions;
  readonly #now: () => number;
  readonly #randomId: () => string;
  readonly #log: Logger;
  readonly #seedStore: SeedStore;
  readonly #events: AppEvents;
  readonly #store: AppStore;
  readonly #audio: AudioRoute;
  readonly #phone: PhoneLifetime;
  readonly #call: CallControl;

  #seed: Uint8Array | null = null;
  #fingerprint: Fingerprint | null = null;
  #invalidRequests = 0;

  constructor(opts: AppServiceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#randomId = opts.randomId ?? (() => randomBytes(12).toString('base64url'));
    this.#log = opts.log ?? silentLogger;
    this.#seedStore = opts.seedStore ?? new FileSeedStore(join(opts.dataDir, 'identity.json'));
    this.#events = new AppEvents(() => this.snapshot(), this.#log);
    this.#store = new AppStore({
      dataDir: opts.dataDir,
      events: this.#events,
      log: this.#log,
      now: this.#now,
      maxHistory: opts.maxHistory ?? 500,
      onSettingsChanged: opts.onSettingsChanged,
      onContactsChanged: () => this.#phone.watchPresence(),
    });
    this.#audio = new AudioRoute(this.#log);
    this.#call = new CallControl({
      store: this.#store,
      events: this.#events,
      audio: this.#audio,
      now: this.#now,
      phone: () => this.#phone.phone,
      relayState: () => this.#phone.relayState,
    });
    this.#phone = new PhoneLifetime({
      softphoneFactory: opts.softphoneFactory,
      store: this.#store,
      events: this.#events,
      log: this.#log,
      seed: () => this.#seed,
      onIncoming: (handle) => this.#call.onIncoming(handle),
      onRejectedBusy: (b) => this.#call.onRejectedBusy(b),
      beforeStop: () => this.#call.endWithPhone(),
    });
  }

  /** Load the data directory and, when an identity and a relay are configured, go online. */
  async start(): Promise<void> {
    this.#store.load();
    try {
      const seed = await this.#seedStore.load();
      if (seed) this.#setSeed(seed);
    } catch (e) {
      this.#events.notice('error', `Cannot load your identity: ${(e as Error).message}`);
    }
    if (this.#opts.prepareRelay) await this.#phone.prepareRelay(this.#opts.prepareRelay);
    this.#events.queueSnapshot();
    await this.#phone.restart();
  }

  async close(): Promise<void> {
    this.#events.stopSnapshots();
    this.#phone.close();
    await this.#call.hangUpForClose();
    await this.#phone.stop();
    this.#events.clear();
    this.#audio.clear();
  }

  // -------------------------------------------------------------------------------------------
  // The host-facing surface

  /** Handle one untrusted request; never throws. */
  async handleRequest(raw: unknown): Promise<IpcResponse> {
    const parsed = parseRequest(raw);
    if (!parsed.ok) {
      this.#invalidRequests++;
      return { ok: false, error: parsed.error };
    }
    try {
      const result = await this.#dispatch(parsed.request);
      return { ok: true, result };
    } catch (e) {
      if (e instanceof AppError) return { ok: false, error: { code: e.code, message: e.message } };
      this.#log.warn({ cmd: parsed.request.cmd, ...errorFields(e, true) }, 'command failed');
      return {
        ok: false,
        error: { code: 'internal', message: `${parsed.request.cmd} failed unexpectedly` },
      };
    }
  }

  /** The typed form for in-process callers (the tray): same validation as IPC. */
  async invoke<C extends CommandName>(cmd: C, args: CommandArgs<C>): Promise<IpcResult<C>> {
    return (await this.handleRequest({ cmd, args })) as IpcResult<C>;
  }

  /** One untrusted audio frame from the renderer's microphone. */
  handleAudioIn(raw: unknown): void {
    const samples = this.#audio.decodeIn(raw);
    if (samples) this.#call.sendAudio(samples);
  }

  onEvent(listener: (e: IpcEvent) => void): () => void {
    return this.#events.on(listener);
  }

  /** Encoded frames to play (see encodeAudioFrame). */
  onAudioOut(listener: (frame: ArrayBuffer) => void): () => void {
    return this.#audio.onAudioOut(listener);
  }

  invalidCounts(): InvalidCounts {
    return { requests: this.#invalidRequests, audioFrames: this.#audio.invalidFrames };
  }

  snapshot(): Snapshot {
    return {
      identity: this.#fingerprint ? { fingerprint: this.#fingerprint } : null,
      settings: structuredClone(this.#store.settings),
      relay: this.#phone.relayView(),
      contacts: this.#store.contacts.map((c) => ({
        ...c,
        keyChange: c.keyChange ? { ...c.keyChange } : null,
        online: this.#phone.isOnline(c.fingerprint),
      })),
      history: this.#store.history.map((h) => ({ ...h })),
      call: this.#call.view(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  async #dispatch(req: ParsedRequest): Promise<unknown> {
    const store = this.#store;
    switch (req.cmd) {
      case 'getSnapshot':
        return this.snapshot();
      case 'createIdentity':
        return this.#createIdentity();
      case 'configureRelay': {
        this.#phone.resetRetry();
        store.setSettings({ ...store.settings, relay: req.args });
        await this.#phone.restart();
        return structuredClone(store.settings);
      }
      case 'updateSettings':
        return this.#updateSettings(req.args);
      case 'addContact': {
        const r = contacts.addContact(store.contacts, req.args, this.#now(), this.#randomId());
        store.setContacts(r.list);
        return r.contact;
      }
      case 'renameContact': {
        const r = contacts.renameContact(store.contacts, req.args.id, req.args.name);
        store.setContacts(r.list);
        return r.contact;
      }
      case 'removeContact':
        store.setContacts(contacts.removeContact(store.contacts, req.args.id));
        return { ok: true };
      case 'replaceContactKey': {
        const { id, fingerprint, source } = req.args;
        const r = contacts.replaceContactKey(store.contacts, id, fingerprint, source, this.#now());
        store.setContacts(r.list);
        this.#events.notice(
          'warning',
          `The key of "${r.contact.name}" was replaced. Calls now go to the new key only.`,
        );
        return r.contact;
      }
      case 'acknowledgeKeyChange': {
        const r = contacts.acknowledgeKeyChange(store.contacts, req.args.id);
        store.setContacts(r.list);
        return r.contact;
      }
      case 'startCall':
        return this.#call.start(req.args.id);
      case 'answerCall':
        await this.#call.answer(req.args.callId);
        return { ok: true };
      case 'declineCall':
        await this.#call.decline(req.args.callId);
        return { ok: true };
      case 'hangUp':
        await this.#call.hangUp(req.args.callId);
        return { ok: true };
      case 'setMuted':
        this.#call.setMuted(req.args.callId, req.args.muted);
        return { ok: true };
      case 'clearHistory':
        store.clearHistory();
        return { ok: true };
    }
  }

  async #createIdentity(): Promise<{ fingerprint: Fingerprint }> {
    if (this.#seed) throw new AppError('conflict', 'an identity already exists');
    const seed = this.#opts.generateSeed?.() ?? Identity.generate().exportSeed();
    await this.#seedStore.save(seed);
    this.#setSeed(seed);
    this.#events.queueSnapshot();
    await this.#phone.restart();
    return { fingerprint: this.#fingerprint as Fingerprint };
  }

  async #updateSettings(patch: CommandArgs<'updateSettings'>): Promise<Settings> {
    const before = this.#store.settings;
    this.#store.setSettings({
      ...before,
      ...patch,
      audio: patch.audio ? { ...patch.audio } : before.audio,
      stunServers: patch.stunServers ? [...patch.stunServers] : before.stunServers,
    } as Settings);
    if (patch.directCalls !== undefined && patch.directCalls !== before.directCalls) {
      this.#phone.phone?.setDirectCalls(patch.directCalls);
    }
    if (
      (patch.stunServers !== undefined &&
        patch.stunServers.join(',') !== before.stunServers.join(',')) ||
      (patch.portMapping !== undefined && patch.portMapping !== before.portMapping)
    ) {
      await this.#phone.restart();
    }
    return structuredClone(this.#store.settings);
  }

  #setSeed(seed: Uint8Array): void {
    this.#seed = Uint8Array.from(seed);
    this.#fingerprint = Identity.fromSeed(seed).fingerprint;
  }
}
