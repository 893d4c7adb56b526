// App mouth-to-ear as a person experiences it: two web hosts on the real engine, each page the
// real renderer in its own headless Chromium with a fake microphone that plays clicks over a
// faint carrier. An init script (below) measures each page from outside the app: an analyser on
// the stream getUserMedia hands the app (the mouth) and one on the app's playback worklet node
// where it connects to the sound card (the ear), both polled on the page's own clock
// (performance.timeOrigin + now(), the wall clock both pages share), exactly as
// ../shared/peer/lab.html measures libwebrtc. A click's mouth-to-ear is its onset at the callee's
// ear minus its onset at the caller's mouth. Calls are placed and answered through the app's own
// command API (what the buttons call); the audio path is the page's, nothing is bypassed.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../support/chromium.ts';
import { startWebApp, type WebApp } from '../../../src-main/web-host/web-app.ts';
import { startSoftphone, Identity } from '../../../src-main/engine/call/softphone-api.ts';
import type { SoftphoneFactory } from '../../../src-main/app/softphone-factory.ts';
import { parseHostPort } from '../../../src-shared/relay-protocol.ts';
import type { RunningRelay } from '../../support/relay-harness.ts';

// Plain JavaScript text (a function from here would carry the TypeScript loader's helpers).
const PROBE_SCRIPT = `(() => {
  const now = () => performance.timeOrigin + performance.now();
  const probe = { mouth: [], ear: [], firstEar: null, firstMouth: null };
  window.__wzpProbe = probe;
  function detect(ctx, node, sink, onAny) {
    const an = ctx.createAnalyser();
    an.fftSize = 4096;
    node.connect(an);
    const N = an.fftSize, sr = ctx.sampleRate, buf = new Float32Array(N);
    let lastPoll = 0, last = -Infinity;
    const timer = setInterval(() => {
      if (ctx.state === 'closed') { clearInterval(timer); return; }
      const t = now();
      const gap = lastPoll ? t - lastPoll : Infinity;
      lastPoll = t;
      an.getFloatTimeDomainData(buf);
      const from = Math.max(0, N - Math.ceil(((gap + 20) * sr) / 1000));
      for (let i = from; i < N; i++) {
        const v = Math.abs(buf[i]);
        const ts = t - ((N - 1 - i) / sr) * 1000;
        if (v > 0.003) onAny(ts);
        if (v > 0.15) {
          if (ts - last > 250) { sink.push(ts); last = ts; }
          break;
        }
      }
    }, 5);
  }
  // The ear: the app's playback worklet where it reaches the sound card.
  const Orig = window.AudioWorkletNode;
  window.AudioWorkletNode = class extends Orig {
    constructor(ctx, name, opts) { super(ctx, name, opts); this.__wzpName = name; }
  };
  const connect = AudioNode.prototype.connect;
  AudioNode.prototype.connect = function (...args) {
    const r = connect.apply(this, args);
    if (this.__wzpName === 'wzp-playback' && args[0] instanceof AudioDestinationNode && !this.__wzpTapped) {
      this.__wzpTapped = true;
      detect(this.context, this, probe.ear, (ts) => { if (probe.firstEar === null) probe.firstEar = ts; });
    }
    return r;
  };
  // The mouth: the stream the app gets from the microphone, in a context of our own.
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  let mouthCtx = null;
  navigator.mediaDevices.getUserMedia = async (c) => {
    const s = await gum(c);
    if (c && c.audio) {
      if (mouthCtx) mouthCtx.close().catch(() => {});
      const ctx = new AudioContext({ latencyHint: 'interactive' });
      mouthCtx = ctx;
      await ctx.resume().catch(() => {});
      detect(ctx, ctx.createMediaStreamSource(s), probe.mouth, (ts) => { if (probe.firstMouth === null) probe.firstMouth = ts; });
    }
    return s;
  };
})();`;

interface Probe {
  mouth: number[];
  ear: number[];
  firstEar: number | null;
}

export interface AppSide {
  web: WebApp;
  browser: Browser;
  page: Page;
  fingerprint: string;
}

export interface AppCallResult {
  path: 'direct' | 'relay' | null;
  /** Click onsets at the callee's ear minus the same click at the caller's mouth. */
  latenciesMs: number[];
  /** Callee's answer command → first sound out of the callee's playback node. */
  answerToFirstAudioMs: number | null;
  /** Callee's answer command → first sound out of the caller's playback node. */
  answerToFirstAudioCallerMs: number | null;
}

/** Builds the renderer once into `dir` (vite, as the e2e suite does). */
export function buildRenderer(dir: string): void {
  const r = spawnSync(
    process.execPath,
    [
      'node_modules/vite/bin/vite.js',
      'build',
      '--outDir',
      dir,
      '--emptyOutDir',
      '--logLevel',
      'error',
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`renderer build failed: ${r.stderr}`);
}

// The engine bound to loopback, so the direct attempt offers loopback candidates only.
const loopbackFactory: SoftphoneFactory = (config) => {
  const hp = parseHostPort(config.relay.address);
  if (!hp) throw new Error('bad relay address');
  return startSoftphone({
    identity: Identity.fromSeed(config.identitySeed),
    relay: { host: hp.host, port: hp.port },
    relayTrust: { fingerprint: config.relay.fingerprint },
    directCalls: config.directCalls,
    portMapping: false,
    bindHost: '127.0.0.1',
  });
};

async function invoke(web: WebApp, cmd: string, args: unknown): Promise<Record<string, unknown>> {
  const r = await web.app.handleRequest({ cmd, args });
  if (!r.ok) throw new Error(`${cmd}: ${r.error.message}`);
  return (r.result ?? {}) as Record<string, unknown>;
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function startAppSide(
  name: string,
  work: string,
  rendererDir: string,
  micWav: string,
  relay: RunningRelay,
): Promise<AppSide> {
  const web = await startWebApp({
    dataDir: join(work, name),
    rendererDir,
    softphoneFactory: loopbackFactory,
  });
  const id = await invoke(web, 'createIdentity', {});
  await invoke(web, 'configureRelay', {
    address: `${relay.quic.host}:${relay.quic.port}`,
    fingerprint: relay.fingerprint,
  });
  await invoke(web, 'updateSettings', { portMapping: false });
  const browser = await launchChromium({ micWav });
  const page = await browser.newPage();
  await page.addInitScript({ content: PROBE_SCRIPT });
  await page.goto(web.host.url);
  return { web, browser, page, fingerprint: String(id.fingerprint) };
}

export async function addContact(from: AppSide, to: AppSide, name: string): Promise<string> {
  const c = await invoke(from.web, 'addContact', {
    name,
    fingerprint: to.fingerprint,
    source: 'typed',
  });
  return String(c.id);
}

async function probe(page: Page): Promise<Probe> {
  return page.evaluate(() => {
    const p = (window as unknown as { __wzpProbe: Probe }).__wzpProbe;
    return { mouth: [...p.mouth], ear: [...p.ear], firstEar: p.firstEar };
  });
}

async function resetEar(page: Page): Promise<void> {
  await page.evaluate(() => {
    const p = (window as unknown as { __wzpProbe: Probe }).__wzpProbe;
    p.ear.length = 0;
    p.mouth.length = 0;
    p.firstEar = null;
  });
}

/** One call caller → callee on the path asked for; measures `seconds` of audio. */
export async function appCall(
  caller: AppSide,
  callee: AppSide,
  calleeContactId: string,
  direct: boolean,
  seconds: number,
): Promise<AppCallResult> {
  for (const s of [caller, callee]) await invoke(s.web, 'updateSettings', { directCalls: direct });
  await Promise.all([resetEar(caller.page), resetEar(callee.page)]);
  await invoke(caller.web, 'startCall', { id: calleeContactId });
  await until('ringing', () => callee.web.app.snapshot().call?.state === 'ringing', 15_000);
  const callId = callee.web.app.snapshot().call?.id ?? '';
  const answeredAt = Date.now();
  await invoke(callee.web, 'answerCall', { callId });
  await until(
    'connected',
    () =>
      caller.web.app.snapshot().call?.state === 'connected' &&
      callee.web.app.snapshot().call?.state === 'connected',
    15_000,
  );
  if (direct) {
    await until(
      'direct path',
      () =>
        caller.web.app.snapshot().call?.path === 'direct' &&
        callee.web.app.snapshot().call?.path === 'direct',
      10_000,
    ).catch(() => {});
  }
  // Let the first-call transient settle (the page's audio start, the jitter buffer's warm-up).
  await new Promise((r) => setTimeout(r, 1000));
  const measureFrom = Date.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const path = caller.web.app.snapshot().call?.path ?? null;
  const [a, b] = await Promise.all([probe(caller.page), probe(callee.page)]);
  await invoke(caller.web, 'hangUp', { callId: caller.web.app.snapshot().call?.id ?? '' }).catch(
    () => ({}),
  );
  await until(
    'ended',
    () => (callee.web.app.snapshot().call?.state ?? 'ended') === 'ended',
    10_000,
  ).catch(() => {});
  const latenciesMs: number[] = [];
  for (const ear of b.ear) {
    if (ear < measureFrom) continue;
    // The click at the mouth this sound came from: the latest one before it, within 400 ms.
    const mouth = a.mouth.filter((m) => m < ear && ear - m < 400).pop();
    if (mouth !== undefined) latenciesMs.push(ear - mouth);
  }
  return {
    path,
    latenciesMs,
    answerToFirstAudioMs: b.firstEar !== null ? b.firstEar - answeredAt : null,
    answerToFirstAudioCallerMs: a.firstEar !== null ? a.firstEar - answeredAt : null,
  };
}

export async function stopAppSide(s: AppSide): Promise<void> {
  await s.browser.close().catch(() => {});
  await s.web.close().catch(() => {});
}
