// The application service: everything the desktop app does that is not a window. It implements
// the IPC contract (src-shared/ipc-contract.ts) on top of an injected Softphone factory, owns the
// contacts, call history and settings (JSON files in the data directory), follows presence and
// the relay state, and routes audio frames between the renderer and the current call. Hosts (the
// Electron shell, the web host, tests) only move bytes in and out of it: every request and
// every audio frame is validated here, and invalid ones are dropped and counted.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import {
  ContactSchema,
  DEFAULT_SETTINGS,
  HistoryEntrySchema,
  RelaySettingsSchema,
  SettingsSchema,
  decodeAudioFrame,
  encodeAudioFrame,
  parseRequest,
  type CallOutcome,
  type CallView,
  type CommandArgs,
  type CommandName,
  type Contact,
  type HistoryEntry,
  type IpcEvent,
  type IpcResponse,
  type IpcResult,
  type Notice,
  type ParsedRequest,
  type RelaySettings,
  type RelayStateView,
  type Settings,
  type Snapshot,
} from '../../src-shared/ipc-contract.ts';
import {
  Identity,
  type CallEndInfo,
  type CallHandle,
  type CallStatsSnapshot,
  type Softphone,
} from '../engine/call/softphone-api.ts';
import { AppError } from './app-error.ts';
import type { IpcBackend } from './ipc-backend.ts';
import * as contacts from './contacts.ts';
import { loadJsonFile, writeJsonFileAtomic } from './json-file.ts';
import { FileSeedStore, type SeedStore } from './seed-store.ts';
import type { SoftphoneFactory } from './softphone-factory.ts';

export interface AppLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface AppServiceOptions {
  dataDir: string;
  softphoneFactory: SoftphoneFactory;
  /** Defaults to an owner-only file `identity.json` in the data directory. */
  seedStore?: SeedStore;
  now?: () => number;
  randomId?: () => string;
  generateSeed?: () => Uint8Array;
  log?: AppLogger;
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

export interface InvalidCounts {
  requests: number;
  audioFrames: number;
}

// Files written before a setting existed lack it: it takes its default there (and only there,
// not in a patch, where a missing field means "unchanged").
const SettingsFileSchema = z.strictObject({
  version: z.literal(1),
  settings: SettingsSchema.extend({
    portMapping: SettingsSchema.shape.portMapping.default(DEFAULT_SETTINGS.portMapping),
  }),
});
const ContactsFileSchema = z.strictObject({
  version: z.literal(1),
  contacts: z.array(ContactSchema).max(10_000),
});
const HistoryFileSchema = z.strictObject({
  version: z.literal(1),
  entries: z.array(HistoryEntrySchema).max(10_000),
});

interface ActiveCall {
  handle: CallHandle;
  view: CallView;
  offs: Array<() => void>;
}

const silentLog: AppLogger = { info: () => {}, warn: () => {} };

/** A relay that could not be reached at start is tried again after 5 s, then up to every 60 s. */
const RELAY_RETRY_FIRST_MS = 5_000;
const RELAY_RETRY_MAX_MS = 60_000;

export class AppService implements IpcBackend {
  readonly #opts: AppServiceOptions;
  readonly #now: () => number;
  readonly #randomId: () => string;
  readonly #log: AppLogger;
  readonly #seedStore: SeedStore;
  readonly #paths: { settings: string; contacts: string; history: string };

  #seed: Uint8Array | null = null;
  #fingerprint: Fingerprint | null = null;
  #settings: Settings = structuredClone(DEFAULT_SETTINGS);
  #contacts: Contact[] = [];
  #history: HistoryEntry[] = [];
  #online = new Map<Fingerprint, boolean>();
  #relay: { state: RelayStateView; detail: string | null; retryAt?: number | null } = {
    state: 'unconfigured',
    detail: null,
  };
  /** After a failed start (relay unreachable): the next attempt, with a growing delay. */
  #relayRetry: { timer: NodeJS.Timeout | null; delayMs: number; failures: number } = {
    timer: null,
    delayMs: RELAY_RETRY_FIRST_MS,
    failures: 0,
  };

  #phone: Softphone | null = null;
  #phoneOffs: Array<() => void> = [];
  #phoneGeneration = 0;
  #call: ActiveCall | null = null;
  #audioSeq = 0;

  #eventListeners = new Set<(e: IpcEvent) => void>();
  #audioListeners = new Set<(frame: ArrayBuffer) => void>();
  #snapshotQueued = false;
  #invalid: InvalidCounts = { requests: 0, audioFrames: 0 };
  #closed = false;

  constructor(opts: AppServiceOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#randomId = opts.randomId ?? (() => randomBytes(12).toString('base64url'));
    this.#log = opts.log ?? silentLog;
    this.#seedStore = opts.seedStore ?? new FileSeedStore(join(opts.dataDir, 'identity.json'));
    this.#paths = {
      settings: join(opts.dataDir, 'settings.json'),
      contacts: join(opts.dataDir, 'contacts.json'),
      history: join(opts.dataDir, 'history.json'),
    };
  }

  /** Load the data directory and, when an identity and a relay are configured, go online. */
  async start(): Promise<void> {
    const s = this.#load(this.#paths.settings, SettingsFileSchema, 'settings');
    if (s) this.#settings = s.settings;
    const c = this.#load(this.#paths.contacts, ContactsFileSchema, 'contacts');
    if (c) this.#contacts = c.contacts;
    const h = this.#load(this.#paths.history, HistoryFileSchema, 'call history');
    if (h) this.#history = h.entries;
    try {
      const seed = await this.#seedStore.load();
      if (seed) this.#setSeed(seed);
    } catch (e) {
      this.#notice('error', `Cannot load your identity: ${(e as Error).message}`);
    }
    await this.#prepareRelay();
    this.#queueSnapshot();
    await this.#restartPhone();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#relayRetry.timer) clearTimeout(this.#relayRetry.timer);
    if (this.#call) {
      const { handle } = this.#call;
      await handle.hangup('normal').catch(() => {});
    }
    await this.#stopPhone();
    this.#eventListeners.clear();
    this.#audioListeners.clear();
  }

  // -------------------------------------------------------------------------------------------
  // The host-facing surface

  /** Handle one untrusted request; never throws. */
  async handleRequest(raw: unknown): Promise<IpcResponse> {
    const parsed = parseRequest(raw);
    if (!parsed.ok) {
      this.#invalid.requests++;
      return { ok: false, error: parsed.error };
    }
    try {
      const result = await this.#dispatch(parsed.request);
      return { ok: true, result };
    } catch (e) {
      if (e instanceof AppError) return { ok: false, error: { code: e.code, message: e.message } };
      this.#log.warn(`command ${parsed.request.cmd} failed: ${(e as Error).stack ?? String(e)}`);
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
    const frame = decodeAudioFrame(raw);
    if (!frame) {
      this.#invalid.audioFrames++;
      return;
    }
    const call = this.#call;
    if (call && call.view.state === 'connected') call.handle.sendAudio(frame.samples);
  }

  onEvent(listener: (e: IpcEvent) => void): () => void {
    this.#eventListeners.add(listener);
    return () => this.#eventListeners.delete(listener);
  }

  /** Encoded frames to play (see encodeAudioFrame). */
  onAudioOut(listener: (frame: ArrayBuffer) => void): () => void {
    this.#audioListeners.add(listener);
    return () => this.#audioListeners.delete(listener);
  }

  invalidCounts(): InvalidCounts {
    return { ...this.#invalid };
  }

  snapshot(): Snapshot {
    return {
      identity: this.#fingerprint ? { fingerprint: this.#fingerprint } : null,
      settings: structuredClone(this.#settings),
      relay: { ...this.#relay },
      contacts: this.#contacts.map((c) => ({
        ...c,
        keyChange: c.keyChange ? { ...c.keyChange } : null,
        online: this.#online.get(c.fingerprint) ?? false,
      })),
      history: this.#history.map((h) => ({ ...h })),
      call: this.#call
        ? {
            ...this.#call.view,
            stats: this.#call.view.stats ? { ...this.#call.view.stats } : null,
          }
        : null,
    };
  }

  // -------------------------------------------------------------------------------------------
  // Commands

  async #dispatch(req: ParsedRequest): Promise<unknown> {
    switch (req.cmd) {
      case 'getSnapshot':
        return this.snapshot();
      case 'createIdentity':
        return this.#createIdentity();
      case 'configureRelay': {
        this.#settings = { ...this.#settings, relay: req.args };
        this.#relayRetry.delayMs = RELAY_RETRY_FIRST_MS;
        this.#relayRetry.failures = 0;
        this.#saveSettings();
        await this.#restartPhone();
        return structuredClone(this.#settings);
      }
      case 'updateSettings':
        return this.#updateSettings(req.args);
      case 'addContact': {
        const r = contacts.addContact(this.#contacts, req.args, this.#now(), this.#randomId());
        this.#setContacts(r.list);
        return r.contact;
      }
      case 'renameContact': {
        const r = contacts.renameContact(this.#contacts, req.args.id, req.args.name);
        this.#setContacts(r.list);
        return r.contact;
      }
      case 'removeContact':
        this.#setContacts(contacts.removeContact(this.#contacts, req.args.id));
        return { ok: true };
      case 'replaceContactKey': {
        const { id, fingerprint, source } = req.args;
        const r = contacts.replaceContactKey(this.#contacts, id, fingerprint, source, this.#now());
        this.#setContacts(r.list);
        this.#notice(
          'warning',
          `The key of "${r.contact.name}" was replaced. Calls now go to the new key only.`,
        );
        return r.contact;
      }
      case 'acknowledgeKeyChange': {
        const r = contacts.acknowledgeKeyChange(this.#contacts, req.args.id);
        this.#setContacts(r.list);
        return r.contact;
      }
      case 'startCall':
        return this.#startCall(req.args.id);
      case 'answerCall':
        await this.#callFor(req.args.callId).handle.answer();
        return { ok: true };
      case 'declineCall':
        await this.#callFor(req.args.callId).handle.decline();
        return { ok: true };
      case 'hangUp':
        await this.#callFor(req.args.callId).handle.hangup('normal');
        return { ok: true };
      case 'setMuted': {
        const call = this.#callFor(req.args.callId);
        call.handle.setMuted(req.args.muted);
        call.view.muted = call.handle.muted;
        this.#queueSnapshot();
        return { ok: true };
      }
      case 'clearHistory':
        this.#history = [];
        this.#saveHistory();
        this.#queueSnapshot();
        return { ok: true };
    }
  }

  async #createIdentity(): Promise<{ fingerprint: Fingerprint }> {
    if (this.#seed) throw new AppError('conflict', 'an identity already exists');
    const seed = this.#opts.generateSeed?.() ?? Identity.generate().exportSeed();
    await this.#seedStore.save(seed);
    this.#setSeed(seed);
    this.#queueSnapshot();
    await this.#restartPhone();
    return { fingerprint: this.#fingerprint as Fingerprint };
  }

  async #updateSettings(patch: CommandArgs<'updateSettings'>): Promise<Settings> {
    const before = this.#settings;
    this.#settings = {
      ...before,
      ...patch,
      audio: patch.audio ? { ...patch.audio } : before.audio,
      stunServers: patch.stunServers ? [...patch.stunServers] : before.stunServers,
    } as Settings;
    this.#saveSettings();
    if (patch.directCalls !== undefined && patch.directCalls !== before.directCalls) {
      this.#phone?.setDirectCalls(patch.directCalls);
    }
    if (
      (patch.stunServers !== undefined &&
        patch.stunServers.join(',') !== before.stunServers.join(',')) ||
      (patch.portMapping !== undefined && patch.portMapping !== before.portMapping)
    ) {
      await this.#restartPhone();
    }
    return structuredClone(this.#settings);
  }

  async #startCall(contactId: string): Promise<{ callId: string }> {
    const contact = contacts.findContact(this.#contacts, contactId);
    if (!this.#phone || this.#relay.state !== 'registered') {
      throw new AppError('not-ready', 'not connected to the relay yet');
    }
    if (this.#call) throw new AppError('busy', 'already in a call');
    let handle: CallHandle;
    try {
      const opts: { direct: boolean; displayName?: string } = {
        direct: this.#settings.directCalls,
      };
      if (this.#settings.displayName) opts.displayName = this.#settings.displayName;
      handle = await this.#phone.call(contact.fingerprint, opts);
    } catch (e) {
      throw new AppError('engine', `could not place the call: ${(e as Error).message}`);
    }
    if (this.#call) {
      // An incoming call won the race while we were dialing.
      await handle.hangup('cancelled').catch(() => {});
      throw new AppError('busy', 'already in a call');
    }
    this.#attachCall(handle);
    return { callId: handle.id };
  }

  #callFor(callId: string): ActiveCall {
    if (!this.#call || this.#call.handle.id !== callId) {
      throw new AppError('not-found', 'no such call');
    }
    return this.#call;
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  #attachCall(handle: CallHandle): void {
    const contact = this.#contacts.find((c) => c.fingerprint === handle.peer) ?? null;
    const view: CallView = {
      id: handle.id,
      peer: handle.peer,
      contactId: contact?.id ?? null,
      name: contact?.name ?? null,
      keyWarning: contact?.keyChange != null,
      verified: contact?.verified ?? false,
      direction: handle.direction,
      state: handle.state,
      path: handle.path,
      muted: handle.muted,
      startedAt: this.#now(),
      connectedAt: handle.state === 'connected' ? this.#now() : null,
      stats: null,
      sas: null,
    };
    const call: ActiveCall = { handle, view, offs: [] };
    call.offs.push(
      handle.on('state', (state) => {
        view.state = state;
        if (state === 'connected' && view.connectedAt === null) view.connectedAt = this.#now();
        this.#queueSnapshot();
      }),
      handle.on('path', ({ path }) => {
        view.path = path;
        this.#queueSnapshot();
      }),
      handle.on('stats', (s) => {
        view.stats = statsView(s);
        if (s.path) view.path = s.path;
        this.#queueSnapshot();
      }),
      handle.on('verified', ({ sas }) => {
        view.sas = sas.slice(0, 64);
        this.#queueSnapshot();
      }),
      handle.on('audio', (pcm) => this.#emitAudio(pcm)),
      handle.on('ended', (info) => this.#onCallEnded(call, info)),
    );
    this.#call = call;
    if (handle.state === 'ended') {
      this.#onCallEnded(call, {
        reason: 'error',
        framesSent: 0,
        framesReceived: 0,
        framesConcealed: 0,
        durationS: 0,
      });
    }
    this.#queueSnapshot();
  }

  #onIncoming(handle: CallHandle): void {
    if (this.#call) {
      // One call at a time: a second caller hears "busy" from the engine's decline.
      void handle.decline().catch(() => {});
      const contact = this.#contacts.find((c) => c.fingerprint === handle.peer) ?? null;
      this.#addHistory({
        id: handle.id,
        peer: handle.peer,
        contactId: contact?.id ?? null,
        name: contact?.name ?? null,
        direction: 'incoming',
        startedAt: this.#now(),
        durationS: 0,
        outcome: 'missed',
        reason: 'busy',
        path: null,
      });
      this.#notice('info', `${contact?.name ?? 'Someone'} called while you were busy`);
      this.#queueSnapshot();
      return;
    }
    this.#attachCall(handle);
  }

  #onCallEnded(call: ActiveCall, info: CallEndInfo): void {
    if (this.#call !== call) return;
    for (const off of call.offs) off();
    this.#call = null;
    const v = call.view;
    const outcome = callOutcome(v, info);
    const now = this.#now();
    const entry: HistoryEntry = {
      id: v.id,
      peer: v.peer,
      contactId: v.contactId,
      name: v.name,
      direction: v.direction,
      startedAt: v.startedAt,
      durationS: v.connectedAt !== null ? Math.max(0, (now - v.connectedAt) / 1000) : 0,
      outcome,
      reason: info.reason,
      path: v.path,
    };
    this.#addHistory(entry);
    if (v.contactId) {
      this.#setContacts(
        this.#contacts.map((c) => (c.id === v.contactId ? { ...c, lastCallAt: now } : c)),
      );
    }
    const who = v.name ?? 'Unknown caller';
    if (outcome === 'missed') this.#notice('info', `Missed call from ${who}`);
    else if (outcome === 'failed')
      this.#notice('warning', `Call with ${who} failed (${info.reason})`);
    else if (outcome === 'declined' && v.direction === 'outgoing')
      this.#notice('info', `${who} declined the call`);
    this.#queueSnapshot();
  }

  #addHistory(entry: HistoryEntry): void {
    const max = this.#opts.maxHistory ?? 500;
    this.#history = [entry, ...this.#history].slice(0, max);
    this.#saveHistory();
  }

  #emitAudio(pcm: Int16Array): void {
    if (this.#audioListeners.size === 0 || pcm.length !== 960) return;
    const frame = encodeAudioFrame(this.#audioSeq++, pcm);
    for (const l of this.#audioListeners) {
      try {
        l(frame);
      } catch (e) {
        this.#log.warn(`audio listener failed: ${(e as Error).message}`);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // The softphone's lifecycle

  async #restartPhone(): Promise<void> {
    if (this.#relayRetry.timer) clearTimeout(this.#relayRetry.timer);
    this.#relayRetry.timer = null;
    await this.#stopPhone();
    if (this.#closed) return;
    const relay = this.#settings.relay;
    if (!this.#seed || !relay) {
      this.#setRelay('unconfigured', null);
      return;
    }
    const generation = ++this.#phoneGeneration;
    this.#setRelay('connecting', null);
    let phone: Softphone;
    try {
      phone = await this.#opts.softphoneFactory({
        identitySeed: Uint8Array.from(this.#seed),
        relay: { address: relay.address, fingerprint: relay.fingerprint },
        stunServers: [...this.#settings.stunServers],
        directCalls: this.#settings.directCalls,
        portMapping: this.#settings.portMapping,
        dataDir: join(this.#opts.dataDir, 'engine'),
      });
    } catch (e) {
      if (generation !== this.#phoneGeneration) return;
      this.#phoneStartFailed(relay.address, e as Error);
      return;
    }
    this.#relayRetry.delayMs = RELAY_RETRY_FIRST_MS;
    this.#relayRetry.failures = 0;
    if (generation !== this.#phoneGeneration || this.#closed) {
      await phone.close().catch(() => {});
      return;
    }
    this.#phone = phone;
    this.#phoneOffs = [
      phone.on('relay', ({ state, detail }) => {
        this.#setRelay(state, detail ?? null);
        if (state === 'registered') this.#watchPresence();
        if (state !== 'registered') this.#online.clear();
      }),
      phone.on('presence', ({ fingerprint, online }) => {
        this.#online.set(fingerprint, online);
        this.#queueSnapshot();
      }),
      phone.on('incoming', (handle) => this.#onIncoming(handle)),
    ];
    this.#setRelay(phone.relayState, null);
    if (phone.relayState === 'registered') this.#watchPresence();
  }

  /**
   * The phone could not start. A relay with another key is a security stop: said in one
   * sentence (the fingerprints stay in the relay's detail, shown on request), never retried.
   * Anything else (unreachable, refused) is retried with a growing delay, and the reason and the
   * time of the next attempt are shown.
   */
  #phoneStartFailed(address: string, e: Error): void {
    if ((e as { code?: unknown }).code === 'peer-identity-mismatch') {
      this.#relayRetry.failures = 0;
      this.#setRelay('failed', e.message);
      this.#notice(
        'error',
        `The relay at ${address} answered with a different key than the one this app trusts. ` +
          'Someone may be intercepting, or the relay was reinstalled: check its fingerprint ' +
          'with its operator (Settings, Relay).',
      );
      return;
    }
    const first = this.#relayRetry.failures++ === 0;
    const delay = this.#relayRetry.delayMs;
    this.#relayRetry.delayMs = Math.min(RELAY_RETRY_MAX_MS, delay * 2);
    this.#relay = {
      state: 'reconnecting',
      detail: `cannot reach the relay at ${address}: ${e.message}`.slice(0, 500),
      retryAt: Date.now() + delay,
    };
    this.#queueSnapshot();
    if (first) {
      this.#notice(
        'warning',
        `Cannot reach the relay at ${address} (${e.message.slice(0, 200)}). The app keeps trying.`,
      );
    }
    this.#relayRetry.timer = setTimeout(() => {
      this.#relayRetry.timer = null;
      if (!this.#closed) void this.#restartPhone();
    }, delay);
    this.#relayRetry.timer.unref();
  }

  async #stopPhone(): Promise<void> {
    this.#phoneGeneration++;
    const phone = this.#phone;
    if (!phone) return;
    for (const off of this.#phoneOffs) off();
    this.#phoneOffs = [];
    this.#phone = null;
    this.#online.clear();
    if (this.#call) {
      const call = this.#call;
      await call.handle.hangup('normal').catch(() => {});
      this.#onCallEnded(call, {
        reason: 'relay-lost',
        framesSent: 0,
        framesReceived: 0,
        framesConcealed: 0,
        durationS: 0,
      });
    }
    await phone.close().catch((e: unknown) => this.#log.warn(`close failed: ${String(e)}`));
  }

  async #prepareRelay(): Promise<void> {
    const prepare = this.#opts.prepareRelay;
    if (!prepare) return;
    const configured = this.#settings.relay;
    let offered: unknown;
    try {
      offered = await prepare(configured ? { ...configured } : null);
    } catch (e) {
      this.#log.warn(`the built-in relay did not start: ${(e as Error).message}`);
      this.#notice('warning', `The built-in relay could not start: ${(e as Error).message}`);
      return;
    }
    if (offered === null) return;
    const parsed = RelaySettingsSchema.safeParse(offered);
    if (!parsed.success) {
      this.#log.warn('the host offered invalid relay settings; ignored');
      return;
    }
    const next = parsed.data;
    if (configured?.address === next.address && configured.fingerprint === next.fingerprint) return;
    this.#settings = { ...this.#settings, relay: next };
    this.#saveSettings();
  }

  #watchPresence(): void {
    const phone = this.#phone;
    if (!phone || phone.relayState !== 'registered') return;
    phone
      .watchPresence(this.#contacts.map((c) => c.fingerprint))
      .catch((e: unknown) => this.#log.warn(`watchPresence failed: ${String(e)}`));
  }

  // -------------------------------------------------------------------------------------------
  // State and persistence

  #setSeed(seed: Uint8Array): void {
    this.#seed = Uint8Array.from(seed);
    this.#fingerprint = Identity.fromSeed(seed).fingerprint;
  }

  #setRelay(state: RelayStateView, detail: string | null): void {
    this.#relay = { state, detail: detail === null ? null : detail.slice(0, 500), retryAt: null };
    this.#queueSnapshot();
  }

  #setContacts(list: Contact[]): void {
    this.#contacts = list;
    writeJsonFileAtomic(this.#paths.contacts, { version: 1, contacts: list });
    this.#watchPresence();
    this.#queueSnapshot();
  }

  #saveSettings(): void {
    writeJsonFileAtomic(this.#paths.settings, { version: 1, settings: this.#settings });
    this.#opts.onSettingsChanged?.(structuredClone(this.#settings));
    this.#queueSnapshot();
  }

  #saveHistory(): void {
    writeJsonFileAtomic(this.#paths.history, { version: 1, entries: this.#history });
  }

  #load<S extends z.ZodType>(path: string, schema: S, what: string): z.output<S> | null {
    const r = loadJsonFile(path, schema, this.#now);
    if (r.kind === 'ok') return r.value;
    if (r.kind === 'corrupt') {
      const where = r.movedTo ? ` It was kept as ${r.movedTo}.` : '';
      this.#notice('error', `Your ${what} file was damaged (${r.reason}) and was reset.${where}`);
      this.#log.warn(`${path}: ${r.reason}`);
    }
    return null;
  }

  #notice(level: Notice['level'], message: string): void {
    this.#emit({ event: 'notice', payload: { level, message: message.slice(0, 1000) } });
  }

  #queueSnapshot(): void {
    if (this.#snapshotQueued) return;
    this.#snapshotQueued = true;
    queueMicrotask(() => {
      this.#snapshotQueued = false;
      if (this.#closed) return;
      this.#emit({ event: 'snapshot', payload: this.snapshot() });
    });
  }

  #emit(e: IpcEvent): void {
    for (const l of this.#eventListeners) {
      try {
        l(e);
      } catch (err) {
        this.#log.warn(`event listener failed: ${(err as Error).message}`);
      }
    }
  }
}

function statsView(s: CallStatsSnapshot): CallView['stats'] {
  return {
    rttMs: s.rttMs,
    lossPct: s.lossPct,
    jitterMs: s.jitterMs,
    bitrateKbps: s.bitrateKbps,
    tier: s.tier,
  };
}

export function callOutcome(
  v: Pick<CallView, 'connectedAt' | 'direction'>,
  info: CallEndInfo,
): CallOutcome {
  if (v.connectedAt !== null) return 'answered';
  if (info.reason === 'declined') return 'declined';
  if (v.direction === 'incoming') {
    return ['hangup-remote', 'cancelled', 'no-answer', 'remote-gone'].includes(info.reason)
      ? 'missed'
      : 'failed';
  }
  return info.reason === 'hangup-local' || info.reason === 'cancelled' ? 'cancelled' : 'failed';
}
