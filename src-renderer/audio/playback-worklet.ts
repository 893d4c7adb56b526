// AudioWorklet (audio thread): plays the float blocks the page posts (one 20 ms frame each) from
// a small ring. It starts once a frame and a half is buffered (enough to ride out the frames'
// arrival jitter, 30 ms where it used to wait for 40), and keeps the buffer near that level on
// its own: the lowest fill of each half second is what the ring never needed, and when that
// stays above a few ms the excess is shed gradually, one sample in every 64 (inaudible, no cut),
// so the drift between the engine's clock and the sound card's cannot pile up latency. An
// underrun plays silence and re-arms the start level. The jitter buffer in the engine decides
// what is played; this ring only bridges the two clocks.
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, ctor: new () => AudioWorkletProcessor): void;
declare const sampleRate: number;

/** Fill the ring may keep at its lowest point (the rest is latency nobody needed). */
const SPARE_S = 0.006;
/** One shed sample per this many played, while shedding. */
const SHED_EVERY = 64;

class PlaybackProcessor extends AudioWorkletProcessor {
  #ring = new Float32Array(Math.ceil(sampleRate * 0.5));
  #read = 0;
  #write = 0;
  #count = 0;
  #started = false;
  readonly #startAt = Math.round(sampleRate * 0.03);
  readonly #maxFill = Math.round(sampleRate * 0.2);
  readonly #spare = Math.round(sampleRate * SPARE_S);
  readonly #window = Math.round(sampleRate * 0.5);
  #windowPlayed = 0;
  #windowMin = Infinity;
  #toShed = 0;
  #sinceShed = 0;

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

  #take(): number {
    const v = this.#ring[this.#read] as number;
    this.#read = (this.#read + 1) % this.#ring.length;
    this.#count--;
    return v;
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0];
    const first = out?.[0];
    if (!out || !first) return true;
    if (!this.#started && this.#count >= this.#startAt) {
      this.#started = true;
      this.#windowMin = Infinity;
      this.#windowPlayed = 0;
    }
    for (let i = 0; i < first.length; i++) {
      let v = 0;
      if (this.#started && this.#count > 0) {
        if (this.#toShed > 0 && ++this.#sinceShed >= SHED_EVERY && this.#count > 1) {
          // Skip one sample: the two neighbours are averaged so the waveform stays smooth.
          const a = this.#take();
          v = (a + this.#take()) / 2;
          this.#toShed--;
          this.#sinceShed = 0;
        } else {
          v = this.#take();
        }
      }
      for (const ch of out) ch[i] = v;
    }
    if (this.#started) {
      if (this.#count < this.#windowMin) this.#windowMin = this.#count;
      this.#windowPlayed += first.length;
      if (this.#windowPlayed >= this.#window) {
        const excess = this.#windowMin - this.#spare;
        this.#toShed = excess > first.length / 4 ? excess : 0;
        this.#windowMin = Infinity;
        this.#windowPlayed = 0;
      }
    }
    if (this.#count === 0) {
      this.#started = false;
      this.#toShed = 0;
    }
    return true;
  }
}

registerProcessor('wzp-playback', PlaybackProcessor);
export {};
