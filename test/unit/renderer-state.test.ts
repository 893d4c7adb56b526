// The renderer's logic without a DOM: the zustand store against a fake WzpApi, the screen and
// shortcut rules, contact search, the WebSocket transport against a fake socket (responses and
// events checked against the contract, invalid ones counted), the 48 kHz resampler and framer,
// and reading a fingerprint back from QR pixels.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import QRCode from 'qrcode';
import { createAppStore } from '../../src-renderer/state/app-store.ts';
import {
  screenFor,
  searchContacts,
  shortcutFor,
  formatDuration,
  qualityOf,
  AVATAR_COLOURS,
  avatarColour,
  endCueFor,
  initialsOf,
  loopSoundFor,
  missedSince,
  outcomeLabel,
} from '../../src-renderer/state/derive.ts';
import { relayKeyProblem } from '../../src-renderer/ui/RelayStatus.tsx';
import {
  createWsApi,
  takeTokenFromFragment,
  type WsLike,
} from '../../src-renderer/api/ws-transport.ts';
import { FrameChunker, LinearResampler, floatToInt16 } from '../../src-renderer/audio/resample.ts';
import { readQrPixels } from '../../src-renderer/qr/qr.ts';
import {
  AUDIO_FRAME_BYTES,
  DEFAULT_SETTINGS,
  type CallView,
  type CommandName,
  type ContactView,
  type EventName,
  type IpcResult,
  type Snapshot,
  type WzpApi,
} from '../../src-shared/ipc-contract.ts';
import {
  fingerprintToQrPayload,
  fingerprintToText,
  type Fingerprint,
} from '../../src-shared/fingerprint.ts';

const fp = (): Fingerprint => fingerprintToText(randomBytes(32));

function snapshot(call: Partial<CallView> | null = null, over: Partial<Snapshot> = {}): Snapshot {
  return {
    identity: { fingerprint: fp() },
    settings: {
      ...structuredClone(DEFAULT_SETTINGS),
      relay: { address: 'h:1', fingerprint: fp() },
    },
    relay: { state: 'registered', detail: null },
    contacts: [],
    history: [],
    call: call
      ? {
          id: 'c1',
          peer: fp(),
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

class FakeApi implements WzpApi {
  calls: Array<{ cmd: CommandName; args: unknown }> = [];
  replies = new Map<CommandName, IpcResult<CommandName>>();
  handlers = new Map<EventName, Set<(p: never) => void>>();
  snap: Snapshot = snapshot();
  async invoke<C extends CommandName>(cmd: C, args: unknown): Promise<IpcResult<C>> {
    this.calls.push({ cmd, args });
    if (cmd === 'getSnapshot') return { ok: true, result: this.snap } as IpcResult<C>;
    return (this.replies.get(cmd) ?? { ok: true, result: { ok: true } }) as IpcResult<C>;
  }
  on<E extends EventName>(event: E, handler: (p: never) => void): () => void {
    let s = this.handlers.get(event);
    if (!s) this.handlers.set(event, (s = new Set()));
    s.add(handler);
    return () => s.delete(handler);
  }
  emit(event: EventName, payload: unknown): void {
    for (const h of this.handlers.get(event) ?? []) (h as (p: unknown) => void)(payload);
  }
  audio = { send: () => {}, onFrame: () => () => {} };
}

describe('app store', () => {
  test('init loads the snapshot and follows pushed snapshots and notices', async () => {
    const api = new FakeApi();
    const store = createAppStore(api);
    await store.getState().init();
    assert.equal(store.getState().snapshot, api.snap);
    assert.equal(store.getState().connected, true);
    const next = snapshot({});
    api.emit('snapshot', next);
    assert.equal(store.getState().snapshot, next);
    for (let i = 0; i < 8; i++) api.emit('notice', { level: 'info', message: `n${i}` });
    const notices = store.getState().notices;
    assert.equal(notices.length, 5, 'only the latest few notices are kept');
    assert.equal(notices.at(-1)?.message, 'n7');
    store.getState().dismissNotice(notices[0]?.id ?? -1);
    assert.equal(store.getState().notices.length, 4);
    store.getState().dispose();
    api.emit('snapshot', snapshot());
    assert.equal(store.getState().snapshot, next, 'no updates after dispose');
  });

  test('call actions use the current call id and only when they make sense', async () => {
    const api = new FakeApi();
    api.snap = snapshot({ id: 'abc', direction: 'incoming', state: 'ringing' });
    const store = createAppStore(api);
    await store.getState().init();
    assert.equal((await store.getState().answer()).ok, true);
    assert.deepEqual(api.calls.at(-1), { cmd: 'answerCall', args: { callId: 'abc' } });
    api.emit('snapshot', snapshot({ id: 'abc', state: 'connected', muted: false }));
    assert.equal((await store.getState().answer()).ok, false, 'nothing to answer once connected');
    await store.getState().toggleMute();
    assert.deepEqual(api.calls.at(-1), { cmd: 'setMuted', args: { callId: 'abc', muted: true } });
    await store.getState().hangUp();
    assert.deepEqual(api.calls.at(-1), { cmd: 'hangUp', args: { callId: 'abc' } });
    api.emit('snapshot', snapshot());
    const n = api.calls.length;
    assert.equal((await store.getState().hangUp()).ok, false);
    assert.equal(api.calls.length, n, 'no request without a call');
  });

  test('errors come back as messages; adding a contact closes the dialog only on success', async () => {
    const api = new FakeApi();
    const store = createAppStore(api);
    await store.getState().init();
    store.getState().setAddContactOpen(true);
    api.replies.set('addContact', {
      ok: false,
      error: { code: 'key-changed', message: 'different key' },
    });
    const r = await store.getState().addContact('Ann', fp(), 'typed');
    assert.deepEqual(r, { ok: false, message: 'different key', code: 'key-changed' });
    assert.equal(store.getState().addContactOpen, true);
    api.replies.set('addContact', { ok: true, result: { id: 'x' } } as never);
    assert.equal((await store.getState().addContact('Ann', fp(), 'qr')).ok, true);
    assert.equal(store.getState().addContactOpen, false);
  });
});

describe('screens and shortcuts', () => {
  test('screenFor', () => {
    assert.equal(screenFor(null), 'connecting');
    assert.equal(screenFor(snapshot(null, { identity: null })), 'first-run');
    assert.equal(
      screenFor(snapshot(null, { settings: structuredClone(DEFAULT_SETTINGS) })),
      'first-run',
    );
    assert.equal(screenFor(snapshot()), 'main');
    assert.equal(screenFor(snapshot({})), 'incoming');
    assert.equal(screenFor(snapshot({ direction: 'outgoing', state: 'calling' })), 'outgoing');
    assert.equal(screenFor(snapshot({ direction: 'outgoing', state: 'ringing' })), 'outgoing');
    assert.equal(screenFor(snapshot({ state: 'connected' })), 'in-call');
  });

  test('shortcuts need Ctrl/Cmd+Shift and fit the call state', () => {
    const k = (
      key: string,
      mods: Partial<{
        ctrlKey: boolean;
        metaKey: boolean;
        shiftKey: boolean;
        altKey: boolean;
      }> = {},
    ) => ({
      key,
      ctrlKey: true,
      metaKey: false,
      shiftKey: true,
      altKey: false,
      ...mods,
    });
    const ringing = snapshot({}).call;
    const live = snapshot({ state: 'connected' }).call;
    assert.equal(shortcutFor(k('A'), ringing), 'answer');
    assert.equal(shortcutFor(k('d'), ringing), 'decline');
    assert.equal(shortcutFor(k('h'), ringing), null);
    assert.equal(shortcutFor(k('a', { shiftKey: false }), ringing), null);
    assert.equal(shortcutFor(k('a', { ctrlKey: false }), ringing), null);
    assert.equal(shortcutFor(k('a', { ctrlKey: false, metaKey: true }), ringing), 'answer');
    assert.equal(shortcutFor(k('M'), live), 'toggle-mute');
    assert.equal(shortcutFor(k('h'), live), 'hang-up');
    assert.equal(shortcutFor(k('a'), live), null);
    assert.equal(shortcutFor(k('h'), null), null);
  });

  test('search by name or fingerprint, sorted by name', () => {
    const mk = (name: string): ContactView => ({
      id: `id${name}xxxxx`,
      name,
      fingerprint: fp(),
      verified: false,
      addedAt: 0,
      lastCallAt: null,
      keyChange: null,
      online: false,
    });
    const list = [mk('Zoe'), mk('anna'), mk('Bob')];
    assert.deepEqual(
      searchContacts(list, '').map((c) => c.name),
      ['anna', 'Bob', 'Zoe'],
    );
    assert.deepEqual(
      searchContacts(list, 'AN').map((c) => c.name),
      ['anna'],
    );
    const bob = list[2];
    assert.ok(bob);
    const piece = bob.fingerprint.slice(10, 20);
    assert.deepEqual(
      searchContacts(list, `${piece.slice(0, 5)} ${piece.slice(5)}`).map((c) => c.name),
      ['Bob'],
    );
  });

  test('durations and quality', () => {
    assert.equal(formatDuration(0), '0:00');
    assert.equal(formatDuration(65.9), '1:05');
    assert.equal(formatDuration(3725), '1:02:05');
    assert.equal(qualityOf(null), 'unknown');
    assert.equal(
      qualityOf({ rttMs: 20, lossPct: 0, jitterMs: 2, bitrateKbps: 24, tier: 2 }),
      'good',
    );
    assert.equal(
      qualityOf({ rttMs: 250, lossPct: 0, jitterMs: 2, bitrateKbps: 24, tier: 2 }),
      'fair',
    );
    assert.equal(
      qualityOf({ rttMs: 20, lossPct: 12, jitterMs: 2, bitrateKbps: 24, tier: 2 }),
      'poor',
    );
    const fresh = {
      rttMs: 20,
      lossPct: 0,
      jitterMs: 2,
      bitrateKbps: 24,
      tier: 2,
      measuredAt: 10_000,
    };
    assert.equal(qualityOf(fresh, 12_000), 'good', 'two seconds old is still current');
    assert.equal(qualityOf(fresh, 12_001), 'unknown', 'older figures are no data, not good');
  });
});

class FakeSocket implements WsLike {
  binaryType = 'blob';
  readyState = 0;
  sent: Array<string | ArrayBuffer> = [];
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: unknown) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  send(d: string | ArrayBuffer): void {
    this.sent.push(d);
  }
  close(): void {
    this.readyState = 3;
    this.onclose?.({});
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
}

describe('people, outcomes and sounds', () => {
  test('initials and avatar colours', () => {
    assert.equal(initialsOf('Alice'), 'A');
    assert.equal(initialsOf('  carol   van dyke '), 'CV');
    assert.equal(initialsOf('élodie'), 'É');
    assert.equal(initialsOf(null), '?');
    assert.equal(initialsOf('   '), '?');
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 64 }), (name) => {
        assert.ok([...initialsOf(name)].length <= 2);
      }),
    );
    const a = fp();
    assert.equal(avatarColour(a), avatarColour(a), 'stable');
    const used = new Set(Array.from({ length: 200 }, () => avatarColour(fp())));
    assert.ok(used.size >= AVATAR_COLOURS.length - 1, `spread over the palette (${used.size})`);
  });

  test('outcomes in plain words', () => {
    const o = (outcome: string, reason: string, direction = 'outgoing') =>
      outcomeLabel({ outcome, reason, direction } as Parameters<typeof outcomeLabel>[0]);
    assert.equal(o('missed', 'hangup-remote', 'incoming'), 'Missed');
    assert.equal(o('missed', 'busy', 'incoming'), 'Missed (you were in a call)');
    assert.equal(o('failed', 'no-answer'), 'No answer');
    assert.equal(o('failed', 'busy'), 'Busy');
    assert.equal(o('declined', 'declined'), 'Declined');
    assert.equal(o('cancelled', 'hangup-local'), 'Cancelled');
    assert.equal(o('answered', 'hangup-local', 'incoming'), 'Incoming call');
    assert.equal(o('failed', 'error'), 'Call failed');
  });

  test('which sound: ringtone in, ringback out, busy or hang-up at the end', () => {
    const call = (over: Partial<CallView>) => snapshot(over).call as CallView;
    assert.equal(loopSoundFor(null), null);
    assert.equal(loopSoundFor(call({ direction: 'incoming', state: 'ringing' })), 'ringtone');
    assert.equal(loopSoundFor(call({ direction: 'outgoing', state: 'ringing' })), 'ringback');
    assert.equal(loopSoundFor(call({ direction: 'outgoing', state: 'calling' })), null);
    assert.equal(loopSoundFor(call({ state: 'connected', connectedAt: 1 })), null);
    const entry = (outcome: string, reason: string) =>
      ({ outcome, reason }) as Parameters<typeof endCueFor>[1];
    const out = call({ direction: 'outgoing', state: 'ringing' });
    assert.equal(endCueFor(call({ connectedAt: 5 }), entry('answered', 'hangup-remote')), 'hangup');
    assert.equal(endCueFor(out, entry('failed', 'busy')), 'busy');
    assert.equal(endCueFor(out, entry('declined', 'declined')), 'busy');
    assert.equal(endCueFor(out, entry('cancelled', 'hangup-local')), null);
    assert.equal(endCueFor(call({ direction: 'incoming' }), entry('missed', 'cancelled')), null);
  });

  test('missed calls since History was opened; a changed relay key is recognised', () => {
    const h = (outcome: string, startedAt: number) =>
      ({ outcome, startedAt }) as Snapshot['history'][number];
    assert.equal(missedSince([h('missed', 5), h('missed', 15), h('answered', 20)], 10), 1);
    const [a, b] = [fp(), fp()];
    assert.deepEqual(
      relayKeyProblem(`peer at 1.2.3.4:7000 is ${a}, expected ${b}: possible interception`),
      { actual: a, expected: b },
    );
    assert.equal(relayKeyProblem('timeout'), null);
  });
});

describe('WebSocket transport', () => {
  test('token as subprotocol, requests matched by id, contract checks both ways', async () => {
    let sock: FakeSocket | null = null;
    const pending = createWsApi(
      'ws://127.0.0.1:1/ipc',
      'T'.repeat(20),
      (u, p) => (sock = new FakeSocket(u, p)),
    );
    const s = sock as unknown as FakeSocket;
    assert.deepEqual(s.protocols, ['wzp.v1', `wzp.token.${'T'.repeat(20)}`]);
    assert.equal(s.binaryType, 'arraybuffer');
    s.open();
    const api = await pending;
    const r1 = api.invoke('clearHistory', {});
    const r2 = api.invoke('removeContact', { id: 'abcdefgh' });
    const sent = s.sent.map((x) => JSON.parse(x as string) as { id: number; cmd: string });
    assert.deepEqual(
      sent.map((m) => m.cmd),
      ['clearHistory', 'removeContact'],
    );
    s.onmessage?.({
      data: JSON.stringify({
        t: 'res',
        id: sent[1]?.id,
        response: { ok: false, error: { code: 'not-found', message: 'no' } },
      }),
    });
    s.onmessage?.({
      data: JSON.stringify({
        t: 'res',
        id: sent[0]?.id,
        response: { ok: true, result: { ok: 'yes' } },
      }),
    });
    assert.deepEqual(await r2, { ok: false, error: { code: 'not-found', message: 'no' } });
    const bad = await r1;
    assert.equal(bad.ok, false, 'a result that breaks the contract is refused');

    const notices: unknown[] = [];
    api.on('notice', (n) => notices.push(n));
    const before = api.invalidMessages();
    s.onmessage?.({
      data: JSON.stringify({
        t: 'evt',
        event: 'notice',
        payload: { level: 'info', message: 'ok' },
      }),
    });
    s.onmessage?.({
      data: JSON.stringify({ t: 'evt', event: 'notice', payload: { level: 'loud', message: 'x' } }),
    });
    s.onmessage?.({ data: 'not json' });
    s.onmessage?.({ data: JSON.stringify({ t: 'res', id: 999, response: {} }) });
    assert.deepEqual(notices, [{ level: 'info', message: 'ok' }]);
    assert.equal(api.invalidMessages() - before, 3);

    const frames: ArrayBuffer[] = [];
    api.audio.onFrame((f) => frames.push(f));
    s.onmessage?.({ data: new ArrayBuffer(AUDIO_FRAME_BYTES) });
    s.onmessage?.({ data: new ArrayBuffer(8) });
    assert.equal(frames.length, 1, 'only whole frames reach the player');
    assert.equal(api.invalidMessages() - before, 4);

    const r3 = api.invoke('clearHistory', {});
    s.close();
    assert.equal((await r3).ok, false, 'pending requests fail when the socket closes');
  });

  test('the fragment token is taken and removed from the address', () => {
    let replaced = '';
    const t = takeTokenFromFragment(
      { hash: '#token=abcdefghijklmnop1234', pathname: '/', search: '' },
      (u) => (replaced = u),
    );
    assert.equal(t, 'abcdefghijklmnop1234');
    assert.equal(replaced, '/');
    assert.equal(
      takeTokenFromFragment({ hash: '#token=short', pathname: '/', search: '' }, () =>
        assert.fail(),
      ),
      null,
    );
    assert.equal(
      takeTokenFromFragment({ hash: '', pathname: '/', search: '' }, () => assert.fail()),
      null,
    );
  });
});

describe('audio resampling and framing', () => {
  test('44.1 kHz → 48 kHz keeps the rate across arbitrary block sizes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 40 }),
        (sizes) => {
          const r = new LinearResampler(44_100, 48_000);
          let inN = 0;
          let outN = 0;
          for (const n of sizes) {
            inN += n;
            outN += r.process(new Float32Array(n)).length;
          }
          const expected = (inN * 48_000) / 44_100;
          return Math.abs(outN - expected) <= 2;
        },
      ),
    );
  });

  test('a sine stays a sine (no clicks at block edges)', () => {
    const r = new LinearResampler(44_100, 48_000);
    const out: number[] = [];
    let t = 0;
    for (const n of [128, 128, 77, 300, 1, 128, 512]) {
      const block = new Float32Array(n);
      for (let i = 0; i < n; i++, t++) block[i] = Math.sin((2 * Math.PI * 440 * t) / 44_100);
      out.push(...r.process(block));
    }
    let worst = 0;
    for (let j = 0; j < out.length; j++) {
      const ideal = Math.sin((2 * Math.PI * 440 * j) / 48_000);
      worst = Math.max(worst, Math.abs((out[j] as number) - ideal));
    }
    assert.ok(worst < 0.01, `max error ${worst}`);
  });

  test('48 kHz → 44.1 kHz and identity rates', () => {
    assert.equal(new LinearResampler(48_000, 44_100).process(new Float32Array(960)).length, 882);
    assert.equal(new LinearResampler(48_000, 48_000).process(new Float32Array(960)).length, 960);
  });

  test('the chunker emits whole 960-sample frames with clamped 16-bit samples', () => {
    const c = new FrameChunker(960);
    const frames: Int16Array[] = [];
    c.push(new Float32Array(1000).fill(2), (f) => frames.push(f));
    c.push(new Float32Array(920).fill(-2), (f) => frames.push(f));
    assert.equal(frames.length, 2);
    assert.equal(frames[0]?.[0], 32767);
    assert.equal(frames[1]?.[959], -32768);
    assert.equal(floatToInt16(Number.NaN), 0);
  });
});

describe('QR reading', () => {
  test('a fingerprint QR decodes back to the fingerprint; other QR content is refused', () => {
    const render = (text: string) => {
      const qr = QRCode.create(text, { errorCorrectionLevel: 'M' });
      const n = qr.modules.size;
      const scale = 4;
      const margin = 4;
      const w = (n + 2 * margin) * scale;
      const data = new Uint8ClampedArray(w * w * 4).fill(255);
      for (let y = 0; y < w; y++)
        for (let x = 0; x < w; x++) {
          const mx = Math.floor(x / scale) - margin;
          const my = Math.floor(y / scale) - margin;
          const dark = mx >= 0 && my >= 0 && mx < n && my < n && qr.modules.get(my, mx);
          if (dark) data.fill(0, (y * w + x) * 4, (y * w + x) * 4 + 3);
        }
      return { data, w };
    };
    const mine = fp();
    const good = render(fingerprintToQrPayload(mine));
    assert.deepEqual(readQrPixels(good.data, good.w, good.w), { ok: true, fingerprint: mine });
    const other = render('https://example.org/');
    const r = readQrPixels(other.data, other.w, other.w);
    assert.equal(r.ok, false);
    assert.match(!r.ok ? r.message : '', /not a wz-phone fingerprint/);
    const blank = new Uint8ClampedArray(40 * 40 * 4).fill(255);
    assert.deepEqual(readQrPixels(blank, 40, 40), {
      ok: false,
      message: 'no QR code found in that image',
    });
  });
});
