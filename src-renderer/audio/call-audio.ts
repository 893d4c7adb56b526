// The sound card side of a call: microphone → capture worklet → 48 kHz 20 ms frames → the typed
// API; frames from the API → playback worklet. Runs only while a call is connected. The
// microphone is opened with the browser's echo cancellation, noise suppression and gain control.
// The input and output devices can change mid-call (setInputDevice, setOutputDevice): the call
// goes on, only the sound card side is re-opened.
import {
  AUDIO_FRAME_SAMPLES,
  AUDIO_SAMPLE_RATE,
  decodeAudioFrame,
  encodeAudioFrame,
  type WzpApi,
} from '../../src-shared/ipc-contract.ts';
import captureUrl from './capture-worklet.ts?worker&url';
import playbackUrl from './playback-worklet.ts?worker&url';
import { FrameChunker, LinearResampler, int16ToFloat, levelDb } from './resample.ts';

export interface CallAudioOptions {
  api: WzpApi;
  inputDeviceId: string | null;
  outputDeviceId: string | null;
  onLevel?: (db: number) => void;
  onError?: (message: string) => void;
}

export class CallAudio {
  #ctx: AudioContext | null = null;
  #stream: MediaStream | null = null;
  #offs: Array<() => void> = [];
  #capture: { disconnect(): void } | null = null;
  #inputDeviceId: string | null = null;
  #opts: CallAudioOptions | null = null;
  #stopped = false;

  async start(o: CallAudioOptions): Promise<void> {
    this.#opts = o;
    const ctx = new AudioContext({ latencyHint: 'interactive' });
    this.#ctx = ctx;
    try {
      await ctx.audioWorklet.addModule(captureUrl);
      await ctx.audioWorklet.addModule(playbackUrl);
      if (o.outputDeviceId) await setSink(ctx, o.outputDeviceId);
      this.#startPlayback(ctx, o.api);
      await this.#openMicrophone(ctx, o, o.inputDeviceId);
      if (ctx.state === 'suspended') await ctx.resume();
    } catch (e) {
      // A call that ends while the sound card is still being set up is no audio problem.
      if (!this.#stopped) o.onError?.(`Audio problem: ${(e as Error).message}`);
    }
  }

  /** Use another microphone (null: the system default) without touching the call. */
  async setInputDevice(deviceId: string | null): Promise<void> {
    const ctx = this.#ctx;
    const o = this.#opts;
    if (!ctx || !o || this.#stopped || !this.#stream || deviceId === this.#inputDeviceId) return;
    try {
      await this.#openMicrophone(ctx, o, deviceId);
    } catch (e) {
      if (!this.#stopped) o.onError?.(`Microphone: ${(e as Error).message}`);
    }
  }

  /** Play on another output device (null: the system default). */
  async setOutputDevice(deviceId: string | null): Promise<void> {
    const ctx = this.#ctx;
    if (!ctx || this.#stopped) return;
    try {
      await setSink(ctx, deviceId ?? '');
    } catch (e) {
      if (!this.#stopped) this.#opts?.onError?.(`Speaker: ${(e as Error).message}`);
    }
  }

  async #openMicrophone(ctx: AudioContext, o: CallAudioOptions, deviceId: string | null) {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: {
        ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
        channelCount: 1,
        echoCancellation: true,
        noiseSuppression: true,
        autoGainControl: true,
      },
    });
    if (this.#stopped) {
      for (const t of stream.getTracks()) t.stop();
      return;
    }
    // The new microphone is open before the old one is let go, so the gap is a block at most.
    this.#capture?.disconnect();
    for (const t of this.#stream?.getTracks() ?? []) t.stop();
    this.#stream = stream;
    this.#inputDeviceId = deviceId;
    this.#capture = this.#startCapture(ctx, stream, o);
  }

  #startCapture(ctx: AudioContext, stream: MediaStream, o: CallAudioOptions) {
    const src = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, 'wzp-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 0,
    });
    const resampler = new LinearResampler(ctx.sampleRate, AUDIO_SAMPLE_RATE);
    const chunker = new FrameChunker(AUDIO_FRAME_SAMPLES);
    let seq = 0;
    let levelBlocks = 0;
    let peak = -90;
    node.port.onmessage = (e: MessageEvent<unknown>) => {
      if (!(e.data instanceof Float32Array)) return;
      const db = levelDb(e.data);
      peak = Math.max(peak, db);
      if (++levelBlocks >= 8) {
        o.onLevel?.(peak);
        levelBlocks = 0;
        peak = -90;
      }
      chunker.push(resampler.process(e.data), (frame) =>
        o.api.audio.send(encodeAudioFrame(seq++, frame)),
      );
    };
    src.connect(node);
    const capture = {
      disconnect: () => {
        node.port.onmessage = null;
        src.disconnect();
        node.disconnect();
      },
    };
    this.#offs.push(() => capture.disconnect());
    return capture;
  }

  #startPlayback(ctx: AudioContext, api: WzpApi): void {
    const node = new AudioWorkletNode(ctx, 'wzp-playback', {
      numberOfInputs: 0,
      outputChannelCount: [1],
    });
    node.connect(ctx.destination);
    const resampler = new LinearResampler(AUDIO_SAMPLE_RATE, ctx.sampleRate);
    const off = api.audio.onFrame((buf) => {
      const f = decodeAudioFrame(buf);
      if (!f) return;
      const block = resampler.process(int16ToFloat(f.samples));
      node.port.postMessage(block, [block.buffer]);
    });
    this.#offs.push(off, () => node.disconnect());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const off of this.#offs.splice(0)) off();
    for (const t of this.#stream?.getTracks() ?? []) t.stop();
    this.#stream = null;
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx && ctx.state !== 'closed') await ctx.close().catch(() => {});
  }
}

async function setSink(ctx: AudioContext, deviceId: string): Promise<void> {
  // '' is the system default.
  const withSink = ctx as AudioContext & { setSinkId?: (id: string) => Promise<void> };
  if (typeof withSink.setSinkId === 'function') await withSink.setSinkId(deviceId);
}

export interface AudioDevices {
  inputs: Array<{ id: string; label: string }>;
  outputs: Array<{ id: string; label: string }>;
}

export async function listAudioDevices(): Promise<AudioDevices> {
  const all = await navigator.mediaDevices.enumerateDevices();
  const pick = (kind: MediaDeviceKind) =>
    all
      .filter((d) => d.kind === kind && d.deviceId !== '')
      .map((d, i) => ({
        id: d.deviceId,
        label: d.label || `${kind === 'audioinput' ? 'Microphone' : 'Speaker'} ${i + 1}`,
      }));
  return { inputs: pick('audioinput'), outputs: pick('audiooutput') };
}

/** A mic test outside calls: level only, nothing is sent. */
export async function startMicMeter(
  deviceId: string | null,
  onLevel: (db: number) => void,
): Promise<() => void> {
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: {
      ...(deviceId ? { deviceId: { exact: deviceId } } : {}),
      echoCancellation: true,
      noiseSuppression: true,
      autoGainControl: true,
    },
  });
  const ctx = new AudioContext();
  await ctx.audioWorklet.addModule(captureUrl);
  const src = ctx.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(ctx, 'wzp-capture', { numberOfInputs: 1, numberOfOutputs: 0 });
  let n = 0;
  let peak = -90;
  node.port.onmessage = (e: MessageEvent<unknown>) => {
    if (!(e.data instanceof Float32Array)) return;
    peak = Math.max(peak, levelDb(e.data));
    if (++n >= 8) {
      onLevel(peak);
      n = 0;
      peak = -90;
    }
  };
  src.connect(node);
  return () => {
    node.port.onmessage = null;
    src.disconnect();
    for (const t of stream.getTracks()) t.stop();
    void ctx.close();
  };
}
