// The Electron shell's logic without Electron: the app:// file mapping and sender/permission
// rules, the preload's API object (exactly the typed API, validated both ways), and the tray
// controller behind its port (presence icon, incoming notification, Answer/Decline, flashing,
// close-to-tray, Quit).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import {
  allowPermission,
  isTrustedSender,
  resolveAppFile,
  APP_START_URL,
  ELECTRON_CSP,
} from '../../src-main/electron/security.ts';
import {
  createPreloadApi,
  type PortLike,
  type PreloadBridge,
} from '../../src-main/electron/preload/preload-api.ts';
import {
  TrayController,
  presenceOf,
  type PresenceState,
  type TrayMenuItem,
  type TrayPort,
} from '../../src-main/electron/tray-controller.ts';
import {
  AUDIO_FRAME_BYTES,
  DEFAULT_SETTINGS,
  encodeAudioFrame,
  type CallView,
  type Snapshot,
} from '../../src-shared/ipc-contract.ts';
import { fingerprintToText } from '../../src-shared/fingerprint.ts';
import { IPC_CHANNELS } from '../../src-shared/ipc-envelope.ts';

describe('security rules', () => {
  test('app:// maps into the renderer directory only', () => {
    const root = '/opt/wz/renderer';
    assert.equal(resolveAppFile('app://wzp/index.html', root), '/opt/wz/renderer/index.html');
    assert.equal(resolveAppFile('app://wzp/', root), '/opt/wz/renderer/index.html');
    assert.equal(resolveAppFile('app://wzp/assets/a.js', root), '/opt/wz/renderer/assets/a.js');
    for (const bad of [
      'app://wzp/../secret',
      'app://wzp/%2e%2e/secret',
      'app://wzp/assets/%2e%2e/%2e%2e/etc/passwd',
      'app://wzp/..%2fsecret',
      'app://wzp/assets/..%2f..%2f..%2fetc%2fpasswd',
      'app://wzp/%00',
      'app://other/index.html',
      'file:///opt/wz/renderer/index.html',
      'https://wzp/index.html',
      'not a url',
      'app://wzp/%E0%A4%A',
    ]) {
      const r = resolveAppFile(bad, root);
      assert.ok(r === null || r.startsWith(root + '/'), `${bad} → ${r}`);
    }
    // An encoded slash survives URL parsing, so the decoded path tries to climb out: refused.
    assert.equal(resolveAppFile('app://wzp/..%2fsecret', root), null);
    assert.equal(resolveAppFile('app://wzp/assets/..%2f..%2f..%2fetc%2fpasswd', root), null);
    assert.equal(resolveAppFile('app://other/index.html', root), null);
    assert.equal(resolveAppFile('app://wzp/%00', root), null);
  });

  test('only the top frame of our window on app:// is a trusted IPC sender', () => {
    const ok = { url: APP_START_URL, isTopFrame: true, isOurWindow: true };
    assert.equal(isTrustedSender(ok), true);
    assert.equal(isTrustedSender({ ...ok, isTopFrame: false }), false);
    assert.equal(isTrustedSender({ ...ok, isOurWindow: false }), false);
    assert.equal(isTrustedSender({ ...ok, url: null }), false);
    assert.equal(isTrustedSender({ ...ok, url: 'https://evil.example/' }), false);
    assert.equal(isTrustedSender({ ...ok, url: 'file:///index.html' }), false);
    assert.equal(isTrustedSender({ ...ok, url: 'app://evil/index.html' }), false);
  });

  test('permissions: microphone for our pages only, nothing else', () => {
    assert.equal(allowPermission('media', APP_START_URL, ['audio']), true);
    assert.equal(allowPermission('media', APP_START_URL, ['audio', 'video']), false);
    assert.equal(allowPermission('media', 'https://evil.example/', ['audio']), false);
    for (const p of ['geolocation', 'notifications', 'clipboard-read', 'openExternal', 'midi']) {
      assert.equal(allowPermission(p, APP_START_URL), false, p);
    }
  });

  test('the CSP allows scripts (and worklets) from self only', () => {
    assert.match(ELECTRON_CSP, /default-src 'none'/);
    assert.match(ELECTRON_CSP, /script-src 'self';/);
    assert.doesNotMatch(ELECTRON_CSP, /unsafe|\*/);
  });
});

class FakeBridge implements PreloadBridge {
  sent: Array<{ channel: string; msg: unknown }> = [];
  reply: unknown = { ok: true, result: { ok: true } };
  eventListener: ((msg: unknown) => void) | null = null;
  portListener: ((p: PortLike) => void) | null = null;
  async invoke(channel: string, msg: unknown): Promise<unknown> {
    this.sent.push({ channel, msg });
    return this.reply;
  }
  onEvent(l: (msg: unknown) => void): void {
    this.eventListener = l;
  }
  onAudioPort(l: (p: PortLike) => void): void {
    this.portListener = l;
  }
}

class FakePort implements PortLike {
  posted: unknown[] = [];
  handler: ((d: unknown) => void) | null = null;
  started = false;
  postMessage(d: unknown): void {
    this.posted.push(d);
  }
  onMessage(h: (d: unknown) => void): void {
    this.handler = h;
  }
  start(): void {
    this.started = true;
  }
}

describe('preload API', () => {
  test('exposes exactly invoke, on and audio — frozen, no electron objects', () => {
    const api = createPreloadApi(new FakeBridge());
    assert.deepEqual(Object.keys(api).sort(), ['audio', 'invoke', 'on']);
    assert.deepEqual(Object.keys(api.audio).sort(), ['onFrame', 'send']);
    assert.ok(Object.isFrozen(api));
    assert.ok(Object.isFrozen(api.audio));
    for (const v of [api.invoke, api.on, api.audio.send, api.audio.onFrame])
      assert.equal(typeof v, 'function');
    const src = readFileSync(
      join(import.meta.dirname, '../../src-main/electron/preload/preload.ts'),
      'utf8',
    );
    assert.equal(src.match(/exposeInMainWorld\(/g)?.length, 1, 'one exposure');
    assert.match(src, /exposeInMainWorld\('wzp', api\)/);
  });

  test('commands go to the one invoke channel; unknown names never leave the page', async () => {
    const bridge = new FakeBridge();
    const api = createPreloadApi(bridge);
    const r = await api.invoke('clearHistory', {});
    assert.deepEqual(r, { ok: true, result: { ok: true } });
    assert.deepEqual(bridge.sent, [
      { channel: IPC_CHANNELS.invoke, msg: { cmd: 'clearHistory', args: {} } },
    ]);
    const bad = await (api.invoke as (c: string, a: unknown) => Promise<unknown>)('__proto__', {});
    assert.deepEqual(bad, {
      ok: false,
      error: { code: 'unknown-command', message: 'unknown command' },
    });
    assert.equal(bridge.sent.length, 1);
    bridge.reply = { ok: true, result: { surprise: 1 } };
    const malformed = await api.invoke('clearHistory', {});
    assert.equal(malformed.ok, false, 'a result that breaks the contract is refused');
  });

  test('events are validated before handlers see them', () => {
    const bridge = new FakeBridge();
    const api = createPreloadApi(bridge);
    const seen: unknown[] = [];
    const off = api.on('notice', (n) => seen.push(n));
    bridge.eventListener?.({ event: 'notice', payload: { level: 'info', message: 'hi' } });
    bridge.eventListener?.({ event: 'notice', payload: { level: 'shout', message: 'hi' } });
    bridge.eventListener?.({ event: 'evil', payload: {} });
    bridge.eventListener?.('garbage');
    assert.deepEqual(seen, [{ level: 'info', message: 'hi' }]);
    off();
    bridge.eventListener?.({ event: 'notice', payload: { level: 'info', message: 'again' } });
    assert.equal(seen.length, 1);
    assert.equal(
      typeof (api.on as (e: string, h: unknown) => unknown)('nope', () => {}),
      'function',
    );
  });

  test('audio crosses the port only as whole frames', () => {
    const bridge = new FakeBridge();
    const api = createPreloadApi(bridge);
    const port = new FakePort();
    const frame = encodeAudioFrame(1, new Int16Array(960));
    api.audio.send(frame);
    assert.equal(port.posted.length, 0, 'no port yet');
    bridge.portListener?.(port);
    assert.equal(port.started, true);
    api.audio.send(frame);
    api.audio.send(new ArrayBuffer(10));
    assert.equal(port.posted.length, 1);
    const got: ArrayBuffer[] = [];
    api.audio.onFrame((f) => got.push(f));
    port.handler?.(new ArrayBuffer(AUDIO_FRAME_BYTES));
    port.handler?.(new Uint8Array(AUDIO_FRAME_BYTES));
    port.handler?.(new ArrayBuffer(5));
    port.handler?.('x');
    assert.equal(got.length, 2);
  });
});

class FakeTrayPort implements TrayPort {
  icons: PresenceState[] = [];
  tooltip = '';
  menu: TrayMenuItem[] = [];
  notifications: Array<{
    title: string;
    body: string;
    on: { answer(): void; decline(): void; click(): void };
    closed: boolean;
  }> = [];
  flashes: boolean[] = [];
  shown = 0;
  hidden = 0;
  quits = 0;
  setIcon(s: PresenceState): void {
    this.icons.push(s);
  }
  setTooltip(t: string): void {
    this.tooltip = t;
  }
  setMenu(items: TrayMenuItem[]): void {
    this.menu = items;
  }
  notifyIncoming(
    n: { title: string; body: string },
    on: { answer(): void; decline(): void; click(): void },
  ) {
    const rec = { ...n, on, closed: false };
    this.notifications.push(rec);
    return { close: () => void (rec.closed = true) };
  }
  flashWindow(on: boolean): void {
    this.flashes.push(on);
  }
  badges: number[] = [];
  setBadge(count: number): void {
    this.badges.push(count);
  }
  showWindow(): void {
    this.shown++;
  }
  hideWindow(): void {
    this.hidden++;
  }
  quit(): void {
    this.quits++;
  }
  item(id: string): Extract<TrayMenuItem, { kind: 'item' }> | undefined {
    return this.menu.find(
      (i): i is Extract<TrayMenuItem, { kind: 'item' }> => i.kind === 'item' && i.id === id,
    );
  }
}

const peer = fingerprintToText(randomBytes(32));

function snap(over: Partial<Snapshot> = {}, call: Partial<CallView> | null = null): Snapshot {
  return {
    identity: null,
    settings: structuredClone(DEFAULT_SETTINGS),
    relay: { state: 'registered', detail: null },
    contacts: [],
    history: [],
    call: call
      ? {
          id: 'call1',
          peer,
          contactId: null,
          name: 'Ann',
          keyWarning: false,
          verified: false,
          direction: 'incoming',
          state: 'ringing',
          path: null,
          muted: false,
          startedAt: 0,
          connectedAt: null,
          stats: null,
          sas: null,
          ...call,
        }
      : null,
    ...over,
  };
}

describe('tray controller', () => {
  test('presence follows the relay and the call', () => {
    assert.equal(presenceOf(null), 'offline');
    assert.equal(presenceOf(snap({ relay: { state: 'reconnecting', detail: null } })), 'offline');
    assert.equal(presenceOf(snap()), 'online');
    assert.equal(presenceOf(snap({}, {})), 'ringing');
    assert.equal(presenceOf(snap({}, { direction: 'outgoing', state: 'calling' })), 'in-call');
    assert.equal(presenceOf(snap({}, { state: 'connected' })), 'in-call');
  });

  test('an incoming call notifies once, flashes, and Answer/Decline reach the app', async () => {
    const port = new FakeTrayPort();
    const invoked: Array<{ cmd: string; args: unknown }> = [];
    const tray = new TrayController(port, {
      invoke: async (cmd, args) => {
        invoked.push({ cmd, args });
        return { ok: true, result: { ok: true } } as never;
      },
    });
    tray.update(snap());
    assert.deepEqual(port.icons, ['online']);
    tray.update(snap({}, {}));
    tray.update(snap({}, {}));
    assert.deepEqual(port.icons, ['online', 'ringing']);
    assert.equal(port.notifications.length, 1, 'one notification per call');
    assert.match(port.notifications[0]?.title ?? '', /Ann/);
    assert.deepEqual(port.flashes, [true]);
    assert.ok(port.item('answer'));
    port.notifications[0]?.on.answer();
    assert.deepEqual(invoked, [{ cmd: 'answerCall', args: { callId: 'call1' } }]);
    assert.equal(port.shown, 1, 'answering shows the window');
    tray.update(snap({}, { state: 'connected' }));
    assert.equal(port.notifications[0]?.closed, true);
    assert.deepEqual(port.flashes, [true, false]);
    assert.equal(port.item('answer'), undefined);
    port.item('mute')?.click();
    port.item('hangup')?.click();
    assert.deepEqual(invoked.slice(1), [
      { cmd: 'setMuted', args: { callId: 'call1', muted: true } },
      { cmd: 'hangUp', args: { callId: 'call1' } },
    ]);
    tray.update(snap({}, { id: 'call2', name: null }));
    assert.equal(port.notifications.length, 2);
    assert.match(port.notifications[1]?.title ?? '', /Unknown caller/);
    port.item('decline')?.click();
    assert.deepEqual(invoked.at(-1), { cmd: 'declineCall', args: { callId: 'call2' } });
  });

  test('missed calls: a badge, the tooltip and a menu item, cleared when the window is seen', () => {
    const port = new FakeTrayPort();
    const tray = new TrayController(port, {
      invoke: async () => ({ ok: true, result: { ok: true } }),
    } as never);
    const missed = (id: string, startedAt: number) => ({
      id,
      peer: fingerprintToText(randomBytes(32)),
      contactId: null,
      name: 'Carol',
      direction: 'incoming' as const,
      startedAt,
      durationS: 0,
      outcome: 'missed' as const,
      reason: 'cancelled',
      path: null,
    });
    const t0 = Date.now();
    tray.update(snap({ history: [] }));
    assert.equal(tray.missed, 0);
    tray.update(snap({ history: [missed('a', t0 + 10), missed('b', t0 + 20)] }));
    assert.equal(tray.missed, 2);
    assert.deepEqual(port.badges, [2]);
    assert.match(port.tooltip, /2 missed calls/);
    assert.ok(port.menu.some((i) => i.kind === 'item' && i.label === '2 missed calls'));
    tray.onWindowSeen(t0 + 30);
    assert.equal(tray.missed, 0);
    assert.deepEqual(port.badges, [2, 0]);
    assert.ok(!port.tooltip.includes('missed'));
  });

  test('close hides to the tray unless turned off or quitting; Quit quits', () => {
    const port = new FakeTrayPort();
    const tray = new TrayController(port, {
      invoke: async () => ({ ok: true, result: { ok: true } }) as never,
    });
    tray.update(snap());
    assert.equal(tray.onWindowCloseRequested(), 'hide');
    assert.equal(port.hidden, 1);
    tray.update(snap({ settings: { ...DEFAULT_SETTINGS, closeToTray: false } }));
    assert.equal(tray.onWindowCloseRequested(), 'close');
    tray.update(snap());
    port.item('quit')?.click();
    assert.equal(port.quits, 1);
    assert.equal(tray.onWindowCloseRequested(), 'close');
  });
});
