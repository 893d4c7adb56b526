// The renderer's state: the last snapshot the main side pushed, notices to show, which screen is
// open, and the actions the screens call. It talks only to the typed WzpApi (Electron preload or
// the web host's WebSocket client), so it runs the same in both hosts and in unit tests.
import { createStore, type StoreApi } from 'zustand/vanilla';
import type {
  CommandArgs,
  CommandName,
  CommandResult,
  Notice,
  SettingsPatch,
  Snapshot,
  WzpApi,
} from '../../src-shared/ipc-contract.ts';

export type View = 'contacts' | 'history' | 'settings';

export interface ShownNotice extends Notice {
  id: number;
}

export type ActionResult<T = unknown> =
  { ok: true; value: T } | { ok: false; message: string; code: string };

export type Host = 'electron' | 'web';

/** What the Add contact dialog opens with (from History: an unknown caller's key and name). */
export interface AddContactPrefill {
  fingerprint: string;
  name: string;
}

export interface AppState {
  snapshot: Snapshot | null;
  /** The transport to the main side is up. */
  connected: boolean;
  /** Which host runs the app: settings that only the desktop app has are hidden on the web. */
  host: Host;
  notices: ShownNotice[];
  view: View;
  qrOpen: boolean;
  addContactOpen: boolean;
  addContactPrefill: AddContactPrefill | null;
  /** The contact shown in the detail pane. */
  selectedContactId: string | null;
  /** The first-run steps are still open (the identity was just made in this window). */
  onboarding: boolean;
  /** When History was last looked at: missed calls after it are counted on its tab. */
  historySeenAt: number;

  init(): Promise<void>;
  dispose(): void;
  setView(v: View): void;
  setQrOpen(open: boolean): void;
  setAddContactOpen(open: boolean, prefill?: AddContactPrefill | null): void;
  selectContact(id: string | null): void;
  finishOnboarding(): void;
  setConnected(up: boolean): void;
  dismissNotice(id: number): void;

  createIdentity(): Promise<ActionResult<{ fingerprint: string }>>;
  configureRelay(address: string, fingerprint: string): Promise<ActionResult>;
  updateSettings(patch: SettingsPatch): Promise<ActionResult>;
  addContact(
    name: string,
    fingerprint: string,
    source: 'typed' | 'qr',
  ): Promise<ActionResult<{ id: string }>>;
  renameContact(id: string, name: string): Promise<ActionResult>;
  removeContact(id: string): Promise<ActionResult>;
  replaceContactKey(id: string, fingerprint: string, source: 'typed' | 'qr'): Promise<ActionResult>;
  acknowledgeKeyChange(id: string): Promise<ActionResult>;
  call(contactId: string): Promise<ActionResult>;
  setDisplayName(name: string): Promise<ActionResult>;
  answer(): Promise<ActionResult>;
  decline(): Promise<ActionResult>;
  hangUp(): Promise<ActionResult>;
  toggleMute(): Promise<ActionResult>;
  clearHistory(): Promise<ActionResult>;
}

export type AppStore = StoreApi<AppState>;

const MAX_NOTICES = 5;
/** Notices clear themselves after this long; errors stay until dismissed. */
export const NOTICE_TTL_MS: Record<Notice['level'], number | null> = {
  info: 10_000,
  warning: 20_000,
  error: null,
};

const SEEN_KEY = 'wzp.historySeenAt';

function loadSeenAt(): number {
  try {
    const v = Number(globalThis.localStorage?.getItem(SEEN_KEY) ?? 0);
    return Number.isFinite(v) && v > 0 ? v : 0;
  } catch {
    return 0;
  }
}

export function createAppStore(api: WzpApi, host: Host = 'web'): AppStore {
  let noticeId = 0;
  const offs: Array<() => void> = [];

  return createStore<AppState>()((set, get) => {
    async function run<C extends CommandName>(
      cmd: C,
      args: CommandArgs<C>,
    ): Promise<ActionResult<CommandResult<C>>> {
      try {
        const r = await api.invoke(cmd, args);
        if (r.ok) return { ok: true, value: r.result };
        return { ok: false, message: r.error.message, code: r.error.code };
      } catch (e) {
        return { ok: false, message: (e as Error).message || 'request failed', code: 'transport' };
      }
    }

    function callId(): string | null {
      return get().snapshot?.call?.id ?? null;
    }

    const noCall: ActionResult = { ok: false, message: 'no call', code: 'not-found' };

    return {
      snapshot: null,
      connected: false,
      host,
      notices: [],
      view: 'contacts',
      qrOpen: false,
      addContactOpen: false,
      addContactPrefill: null,
      selectedContactId: null,
      onboarding: false,
      historySeenAt: loadSeenAt(),

      async init() {
        offs.push(
          api.on('snapshot', (s) => set({ snapshot: s })),
          api.on('notice', (n) => {
            const id = ++noticeId;
            set((st) => ({ notices: [...st.notices, { ...n, id }].slice(-MAX_NOTICES) }));
            const ttl = NOTICE_TTL_MS[n.level];
            if (ttl !== null) setTimeout(() => get().dismissNotice(id), ttl);
          }),
        );
        const r = await run('getSnapshot', {});
        if (r.ok) set({ snapshot: r.value, connected: true, onboarding: !r.value.identity });
        else
          set((st) => ({
            notices: [...st.notices, { level: 'error', message: r.message, id: ++noticeId }],
          }));
      },
      dispose() {
        for (const off of offs.splice(0)) off();
      },
      setView(view) {
        if (view === 'history' || get().view === 'history') {
          const historySeenAt = Date.now();
          try {
            globalThis.localStorage?.setItem(SEEN_KEY, String(historySeenAt));
          } catch {
            // Private mode: the badge then counts from this session's start.
          }
          set({ view, historySeenAt });
          return;
        }
        set({ view });
      },
      setQrOpen: (qrOpen) => set({ qrOpen }),
      setAddContactOpen: (addContactOpen, prefill = null) =>
        set({ addContactOpen, addContactPrefill: addContactOpen ? prefill : null }),
      selectContact: (selectedContactId) => set({ selectedContactId }),
      finishOnboarding: () => set({ onboarding: false }),
      setConnected: (connected) => set({ connected }),
      dismissNotice: (id) => set((st) => ({ notices: st.notices.filter((n) => n.id !== id) })),

      createIdentity: () => run('createIdentity', {}),
      configureRelay: (address, fingerprint) => run('configureRelay', { address, fingerprint }),
      updateSettings: (patch) => run('updateSettings', patch),
      async addContact(name, fingerprint, source) {
        const r = await run('addContact', { name, fingerprint, source });
        if (r.ok) set({ addContactOpen: false, addContactPrefill: null });
        return r;
      },
      renameContact: (id, name) => run('renameContact', { id, name }),
      removeContact: (id) => run('removeContact', { id }),
      replaceContactKey: (id, fingerprint, source) =>
        run('replaceContactKey', { id, fingerprint, source }),
      acknowledgeKeyChange: (id) => run('acknowledgeKeyChange', { id }),
      call: (id) => run('startCall', { id }),
      setDisplayName: (name) => run('updateSettings', { displayName: name.trim() || null }),
      async answer() {
        const c = get().snapshot?.call;
        if (!c || c.direction !== 'incoming' || c.state !== 'ringing') return noCall;
        return run('answerCall', { callId: c.id });
      },
      async decline() {
        const c = get().snapshot?.call;
        if (!c || c.direction !== 'incoming' || c.state !== 'ringing') return noCall;
        return run('declineCall', { callId: c.id });
      },
      async hangUp() {
        const id = callId();
        return id ? run('hangUp', { callId: id }) : noCall;
      },
      async toggleMute() {
        const c = get().snapshot?.call;
        if (!c) return noCall;
        return run('setMuted', { callId: c.id, muted: !c.muted });
      },
      clearHistory: () => run('clearHistory', {}),
    };
  });
}
