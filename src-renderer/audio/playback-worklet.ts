// AudioWorklet (audio thread): plays float blocks the page posts, from a small ring buffer. It
// starts once about 40 ms are buffered, plays silence on underrun, and drops the oldest audio
// when more than 200 ms pile up, so latency stays bounded when the clocks drift.
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, ctor: new () => AudioWorkletProcessor): void;
declare const sampleRate: number;

class PlaybackProcessor extends AudioWorkletProcessor {
  #ring = new Float32Array(Math.ceil(sampleRate * 0.5));
  #read = 0;
  #write = 0;
  #count = 0;
  #started = false;
  readonly #startAt = Math.round(sampleRate * 0.04);
  readonly #maxFill = Math.round(sampleRate * 0.2);

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<unknown>) => {
      if (e.data instanceof Float32Array) this.#push(e.data);
    };
  }

  #push(block: Float32Array): void {
    const cap = this.#ring.length;
    for (let i = 0; i < block.length; i++) {
      this.#ring[this.#write] = block[i] as number;
      this.#write = (this.#write + 1) % cap;
      if (this.#count < cap) this.#count++;
      else this.#read = (this.#read + 1) % cap;
    }
    while (this.#count > this.#maxFill) {
      this.#read = (this.#read + 1) % cap;
      this.#count--;
    }
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    const first = out?.[0];
    if (!out || !first) return true;
    if (!this.#started && this.#count >= this.#startAt) this.#started = true;
    for (let i = 0; i < first.length; i++) {
      let v = 0;
      if (this.#started && this.#count > 0) {
        v = this.#ring[this.#read] as number;
        this.#read = (this.#read + 1) % this.#ring.length;
        this.#count--;
      }
      for (const ch of out) ch[i] = v;
    }
    if (this.#count === 0) this.#started = false;
    return true;
  }
}

registerProcessor('wzp-playback', PlaybackProcessor);
export {};
