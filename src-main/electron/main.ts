// The Electron main process: a thin shell around the AppService. One instance, one window
// (sandboxed, context-isolated, no Node), the renderer served from a privileged app:// scheme
// with a strict CSP, navigation and new windows refused, every IPC message checked for its
// sender frame and validated against the contract, audio over a MessagePort, the identity seed
// sealed with safeStorage where the platform has a secret store, and the tray. With no relay
// configured it runs the built-in loopback relay (desktop/embedded-relay.ts) and makes it the user's.
// `--profile NAME` (or WZP_PROFILE) runs a separate identity with its own data directory and
// its own single-instance lock; the built-in relay stays with the default profile's directory.
import {
  BrowserWindow,
  Menu,
  MessageChannelMain,
  Notification,
  Tray,
  app,
  ipcMain,
  nativeImage,
  net,
  protocol,
  safeStorage,
  screen,
  session,
  type IpcMainInvokeEvent,
  type MenuItemConstructorOptions,
  type MessagePortMain,
  type WebContents,
} from 'electron';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { IPC_CHANNELS } from '../../src-shared/ipc-envelope.ts';
import { AppService } from '../app/app-service.ts';
import { FileSeedStore, type SecretCodec } from '../app/seed-store.ts';
import type { SoftphoneFactory } from '../app/softphone-factory.ts';
import {
  DEFAULT_EMBEDDED_RELAY_PORT,
  EmbeddedRelay,
  parseRelayPort,
} from '../desktop/embedded-relay.ts';
import { parseProfileName, profileDataDir, profileFromArgv } from '../desktop/profile.ts';
import {
  APP_SCHEME,
  APP_START_URL,
  ELECTRON_CSP,
  allowPermission,
  isAppUrl,
  isTrustedSender,
  resolveAppFile,
} from './security.ts';
import { TrayController, type PresenceState, type TrayPort } from './tray-controller.ts';
import {
  DEFAULT_SIZE,
  MIN_SIZE,
  loadWindowState,
  placeWindow,
  saveWindowState,
  type WindowState,
} from './window-state.ts';

// Bundled layout (build.ts): dist/electron/{main.mjs,preload.cjs} beside dist/renderer.
const here = import.meta.dirname;
const RENDERER_DIR = join(here, '..', 'renderer');
const PRELOAD = join(here, 'preload.cjs');
const ASSETS = join(here, '..', '..', 'assets');

protocol.registerSchemesAsPrivileged([
  {
    scheme: APP_SCHEME,
    privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true },
  },
]);
app.enableSandbox();
// Run from the checkout (`npm start` launches dist/electron/main.mjs, not a package), Electron
// would call the app "Electron" and keep its data there; use the packaged app's name and place.
if (!app.isPackaged) app.setName('wz-phone');
const fromArgv = profileFromArgv(process.argv);
const profile =
  fromArgv.ok && fromArgv.profile === null ? parseProfileName(process.env.WZP_PROFILE) : fromArgv;
if (!profile.ok) {
  process.stderr.write(`wz-phone: ${profile.error}\n`);
  process.exit(2);
}
const PROFILE = profile.profile;
const DEFAULT_DATA_DIR = join(app.getPath('appData'), 'wz-phone');
// Before the single-instance lock, which is per user-data directory: one lock per profile.
app.setPath('userData', profileDataDir(DEFAULT_DATA_DIR, PROFILE));

// Counted for diagnostics; an untrusted sender never reaches the app service.
// Logs as JSON lines on stderr, as the relay and the web host write them.
const log = pino({ level: 'info', base: { svc: 'wz-phone' } }, pino.destination(2));
const invalid = { untrustedSender: 0 };
let win: BrowserWindow | null = null;
let audioPort: MessagePortMain | null = null;

if (!app.requestSingleInstanceLock()) {
  // The running instance shows its window (second-instance); tell scripts/start.mjs why we quit.
  if (process.env.WZP_REPORT_READY === '1') process.stdout.write('wzp:already-running\n');
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  app.on('web-contents-created', (_e, contents) => hardenContents(contents));
  void app.whenReady().then(start);
}

function hardenContents(contents: WebContents): void {
  contents.on('will-navigate', (e) => e.preventDefault());
  contents.on('will-redirect', (e) => e.preventDefault());
  contents.on('will-attach-webview', (e) => e.preventDefault());
  contents.setWindowOpenHandler(() => ({ action: 'deny' }));
}

function secretCodec(): SecretCodec | null {
  if (!safeStorage.isEncryptionAvailable()) return null;
  // On Linux without a keyring Electron falls back to a hard-coded key: not a secret store.
  if (process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text') {
    return null;
  }
  return {
    encrypt: (plain) => safeStorage.encryptString(Buffer.from(plain).toString('base64')),
    decrypt: (sealed) => Buffer.from(safeStorage.decryptString(Buffer.from(sealed)), 'base64'),
  };
}

const engineFactory: SoftphoneFactory = async (config) => {
  const { createSoftphone } = await import('../app/engine-factory.ts');
  return createSoftphone(config);
};

async function start(): Promise<void> {
  protocol.handle(APP_SCHEME, async (req) => {
    const file = resolveAppFile(req.url, RENDERER_DIR);
    if (!file) return new Response('not found', { status: 404 });
    const res = await net.fetch(pathToFileURL(file).toString());
    const headers = new Headers(res.headers);
    headers.set('Content-Security-Policy', ELECTRON_CSP);
    headers.set('X-Content-Type-Options', 'nosniff');
    if (file.endsWith('.js')) headers.set('Content-Type', 'text/javascript');
    return new Response(res.body, { status: res.status, headers });
  });

  const ses = session.defaultSession;
  ses.setPermissionRequestHandler((_wc, permission, callback, details) => {
    const media = 'mediaTypes' in details ? (details.mediaTypes ?? []) : [];
    callback(allowPermission(permission, details.requestingUrl, media));
  });
  ses.setPermissionCheckHandler((_wc, permission, origin) =>
    allowPermission(permission, origin, ['audio']),
  );

  const dataDir = app.getPath('userData');
  const relay = new EmbeddedRelay({
    dataDir: DEFAULT_DATA_DIR,
    defaultPort: parseRelayPort(process.env.WZP_EMBEDDED_RELAY_PORT) ?? DEFAULT_EMBEDDED_RELAY_PORT,
  });
  const service = new AppService({
    dataDir,
    softphoneFactory: engineFactory,
    seedStore: new FileSeedStore(join(dataDir, 'identity.json'), secretCodec()),
    log,
    onSettingsChanged: (s) => {
      if (process.platform !== 'linux') app.setLoginItemSettings({ openAtLogin: s.startAtLogin });
    },
    prepareRelay: relay.prepare,
  });

  ipcMain.handle(IPC_CHANNELS.invoke, (event: IpcMainInvokeEvent, msg: unknown) => {
    const frame = event.senderFrame;
    const trusted = isTrustedSender({
      url: frame?.url ?? null,
      isTopFrame: frame !== null && frame.parent === null,
      isOurWindow: win !== null && event.sender === win.webContents,
    });
    if (!trusted) {
      invalid.untrustedSender++;
      return { ok: false, error: { code: 'invalid-request', message: 'untrusted sender' } };
    }
    return service.handleRequest(msg);
  });
  service.onEvent((e) => {
    if (win && !win.isDestroyed()) win.webContents.send(IPC_CHANNELS.event, e);
  });
  service.onAudioOut((frame) => audioPort?.postMessage(frame));

  const tray = createTray(service);
  service.onEvent((e) => {
    if (e.event === 'snapshot') tray.update(e.payload);
  });
  await service.start();
  tray.update(service.snapshot());
  const r = relay.info;
  if (r) {
    const by = r.runBy === 'other' ? ', run by another profile' : '';
    log.info({ address: r.address, fingerprint: r.fingerprint }, `built-in relay${by}`);
  }

  createWindow(tray, service);
  app.on('activate', () => showWindow());
  app.on('before-quit', () => {
    if (!tray.quitting) tray.requestQuit();
  });
  app.on('will-quit', (e) => {
    e.preventDefault();
    void service
      .close()
      .finally(() => relay.close().catch(() => {}))
      .finally(() => app.exit(0));
  });
}

function createWindow(tray: TrayController, service: AppService): void {
  const stateFile = join(app.getPath('userData'), 'window-state.json');
  const placed = placeWindow(
    loadWindowState(stateFile),
    screen.getAllDisplays().map((d) => d.workArea),
  );
  win = new BrowserWindow({
    ...(placed ?? DEFAULT_SIZE),
    minWidth: MIN_SIZE.width,
    minHeight: MIN_SIZE.height,
    show: false,
    title: PROFILE ? `wz-phone — ${PROFILE}` : 'wz-phone',
    icon: join(ASSETS, 'icon.png'),
    webPreferences: {
      preload: PRELOAD,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      safeDialogs: true,
      // The ringtone must sound for a call that comes in before anyone clicked the window.
      autoplayPolicy: 'no-user-gesture-required',
      devTools: !app.isPackaged,
    },
  });
  const w = win;
  // Size and place are kept for the next start (restored, not maximised, bounds).
  let saveTimer: NodeJS.Timeout | null = null;
  const saveState = (): void => {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = null;
    if (w.isDestroyed() || w.isMinimized()) return;
    const b = w.getNormalBounds();
    const state: WindowState = { ...b, maximized: w.isMaximized() };
    try {
      saveWindowState(stateFile, state);
    } catch (e) {
      log.warn({ err: (e as Error).message }, "cannot save the window's place");
    }
  };
  const saveSoon = (): void => {
    if (saveTimer) clearTimeout(saveTimer);
    saveTimer = setTimeout(saveState, 500);
  };
  for (const ev of ['resize', 'move', 'maximize', 'unmaximize'] as const)
    w.on(ev as 'resize', saveSoon);
  w.once('ready-to-show', () => {
    if (placed?.maximized) w.maximize();
    w.show();
    // scripts/start.mjs waits for this line to know that Electron runs here.
    if (process.env.WZP_REPORT_READY === '1') process.stdout.write('wzp:ready\n');
  });
  w.on('focus', () => tray.onWindowSeen());
  w.on('show', () => tray.onWindowSeen());
  w.on('close', (e) => {
    saveState();
    if (tray.onWindowCloseRequested() === 'hide') e.preventDefault();
  });
  w.on('closed', () => {
    win = null;
    audioPort?.close();
    audioPort = null;
  });
  w.webContents.on('did-finish-load', () => {
    if (!isAppUrl(w.webContents.getURL())) return;
    // A fresh port per page load: the old one belonged to the previous document.
    audioPort?.close();
    const { port1, port2 } = new MessageChannelMain();
    audioPort = port1;
    port1.on('message', (e) => service.handleAudioIn(e.data));
    port1.start();
    w.webContents.postMessage(IPC_CHANNELS.audioPort, null, [port2]);
  });
  void w.loadURL(APP_START_URL);
}

function createTray(service: AppService): TrayController {
  const icons = new Map<PresenceState, Electron.NativeImage>();
  for (const s of ['offline', 'online', 'ringing', 'in-call'] as const) {
    icons.set(s, nativeImage.createFromPath(join(ASSETS, `tray-${s}.png`)));
  }
  const tray = new Tray(icons.get('offline') ?? nativeImage.createEmpty());
  const port: TrayPort = {
    setIcon: (s) => {
      const img = icons.get(s);
      if (img) tray.setImage(img);
    },
    setTooltip: (t) => tray.setToolTip(t),
    setMenu: (items) => {
      const template: MenuItemConstructorOptions[] = items.map((i) =>
        i.kind === 'separator'
          ? { type: 'separator' }
          : { id: i.id, label: i.label, enabled: i.enabled, click: () => i.click() },
      );
      tray.setContextMenu(Menu.buildFromTemplate(template));
    },
    notifyIncoming: (n, on) => {
      if (!Notification.isSupported()) return { close: () => {} };
      const note = new Notification({
        title: n.title,
        body: n.body,
        urgency: 'critical',
        timeoutType: 'never',
        actions: [
          { type: 'button', text: 'Answer' },
          { type: 'button', text: 'Decline' },
        ],
      });
      note.on('action', (_e, index) => (index === 0 ? on.answer() : on.decline()));
      note.on('click', () => on.click());
      note.show();
      return { close: () => note.close() };
    },
    flashWindow: (onOff) => {
      if (win && !win.isDestroyed()) win.flashFrame(onOff);
    },
    setBadge: (count) => {
      // macOS dock and Unity launchers; elsewhere the tooltip and the menu say it.
      app.setBadgeCount(count);
    },
    showWindow,
    hideWindow: () => win?.hide(),
    quit: () => app.quit(),
  };
  const controller = new TrayController(port, service);
  tray.on('click', () => showWindow());
  return controller;
}

function showWindow(): void {
  if (!win) return;
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}
