// AudioWorklet (audio thread): hands each 128-sample microphone block to the page, which
// resamples to 48 kHz and frames it. Kept trivial so the audio thread never blocks.
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}
declare function registerProcessor(name: string, ctor: new () => AudioWorkletProcessor): void;

class CaptureProcessor extends AudioWorkletProcessor {
  process(inputs: Float32Array[][]): boolean {
    const ch = inputs[0]?.[0];
    if (ch && ch.length > 0) {
      const copy = Float32Array.from(ch);
      this.port.postMessage(copy, [copy.buffer]);
    }
    return true;
  }
}

registerProcessor('wzp-capture', CaptureProcessor);
export {};
