// The call's sounds: the ringtone while a call comes in, ringback while the other side rings,
// the busy tone and the hang-up cue (assets/sounds, made by scripts/make-sounds.ts). They play
// through Web Audio on the output device the user chose, so they come out where the call will
// and at that device's volume. A page that has not been clicked yet may not start audio: the
// context resumes on the first key or click.
import busyUrl from '../../assets/sounds/busy.wav?url';
import hangupUrl from '../../assets/sounds/hangup.wav?url';
import ringbackUrl from '../../assets/sounds/ringback.wav?url';
import ringtoneUrl from '../../assets/sounds/ringtone.wav?url';

export type LoopSound = 'ringtone' | 'ringback';
export type CueSound = 'busy' | 'hangup';
type SoundName = LoopSound | CueSound;

const URLS: Record<SoundName, string> = {
  ringtone: ringtoneUrl,
  ringback: ringbackUrl,
  busy: busyUrl,
  hangup: hangupUrl,
};

export class CallSounds {
  #ctx: AudioContext | null = null;
  #sinkId: string | null = null;
  readonly #buffers = new Map<SoundName, Promise<AudioBuffer>>();
  #loop: { kind: LoopSound; node: AudioBufferSourceNode | null } | null = null;
  #closed = false;
  readonly #resume = (): void => {
    if (this.#ctx?.state === 'suspended') void this.#ctx.resume().catch(() => {});
  };

  constructor() {
    window.addEventListener('pointerdown', this.#resume, true);
    window.addEventListener('keydown', this.#resume, true);
  }

  /** Play on this output device from now on (null: the system default). */
  setOutputDevice(deviceId: string | null): void {
    if (deviceId === this.#sinkId) return;
    this.#sinkId = deviceId;
    const ctx = this.#ctx;
    if (ctx) void setSink(ctx, deviceId);
  }

  /** Keep one looping sound going (or none). */
  setLoop(kind: LoopSound | null): void {
    if (this.#closed || this.#loop?.kind === kind || (kind === null && this.#loop === null)) return;
    this.#stopLoop();
    if (kind === null) return;
    const loop: { kind: LoopSound; node: AudioBufferSourceNode | null } = { kind, node: null };
    this.#loop = loop;
    void this.#play(kind, true).then((node) => {
      if (this.#loop === loop) loop.node = node;
      else node?.stop();
    });
  }

  /** A one-shot cue. */
  cue(kind: CueSound): void {
    if (this.#closed) return;
    void this.#play(kind, false);
  }

  close(): void {
    this.#closed = true;
    this.#stopLoop();
    window.removeEventListener('pointerdown', this.#resume, true);
    window.removeEventListener('keydown', this.#resume, true);
    const ctx = this.#ctx;
    this.#ctx = null;
    if (ctx) void ctx.close().catch(() => {});
  }

  #stopLoop(): void {
    const node = this.#loop?.node;
    this.#loop = null;
    try {
      node?.stop();
    } catch {
      // Already stopped.
    }
  }

  #context(): AudioContext {
    if (!this.#ctx) {
      this.#ctx = new AudioContext({ latencyHint: 'playback' });
      if (this.#sinkId) void setSink(this.#ctx, this.#sinkId);
    }
    return this.#ctx;
  }

  async #play(kind: SoundName, loop: boolean): Promise<AudioBufferSourceNode | null> {
    try {
      const ctx = this.#context();
      const buffer = await this.#buffer(ctx, kind);
      if (this.#closed || ctx.state === 'closed') return null;
      if (ctx.state === 'suspended') await ctx.resume().catch(() => {});
      const node = ctx.createBufferSource();
      node.buffer = buffer;
      node.loop = loop;
      node.connect(ctx.destination);
      node.onended = () => node.disconnect();
      node.start();
      return node;
    } catch {
      // No sound card or a blocked file: the call itself goes on without its sounds.
      return null;
    }
  }

  #buffer(ctx: AudioContext, kind: SoundName): Promise<AudioBuffer> {
    let p = this.#buffers.get(kind);
    if (!p) {
      p = fetch(URLS[kind])
        .then((r) => r.arrayBuffer())
        .then((b) => ctx.decodeAudioData(b));
      p.catch(() => this.#buffers.delete(kind));
      this.#buffers.set(kind, p);
    }
    return p;
  }
}

async function setSink(ctx: AudioContext, deviceId: string | null): Promise<void> {
  const withSink = ctx as AudioContext & { setSinkId?: (id: string) => Promise<void> };
  if (typeof withSink.setSinkId !== 'function') return;
  await withSink.setSinkId(deviceId ?? '').catch(() => {});
}
