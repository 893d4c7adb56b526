// Audio between the renderer and the call: the call's decoded 20 ms frames, encoded for the
// host's listeners; the renderer's microphone frames, untrusted, decoded here and counted when
// invalid. The framing itself is the IPC contract's (encodeAudioFrame / decodeAudioFrame).
import { decodeAudioFrame, encodeAudioFrame } from '../../src-shared/ipc-contract.ts';
import { PCM_FRAME_SAMPLES } from '../engine/call/softphone-api.ts';
import { errorFields, type Logger } from '../engine/base/logger.ts';

export class AudioRoute {
  readonly #listeners = new Set<(frame: ArrayBuffer) => void>();
  readonly #log: Logger;
  #seq = 0;
  #invalidIn = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  get invalidFrames(): number {
    return this.#invalidIn;
  }

  onAudioOut(listener: (frame: ArrayBuffer) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** One frame of the call's audio to every listener. */
  play(pcm: Int16Array): void {
    if (this.#listeners.size === 0 || pcm.length !== PCM_FRAME_SAMPLES) return;
    const frame = encodeAudioFrame(this.#seq++, pcm);
    for (const l of this.#listeners) {
      try {
        l(frame);
      } catch (e) {
        this.#log.warn(errorFields(e), 'audio listener failed');
      }
    }
  }

  /** The samples of one untrusted microphone frame, or null (counted) when it is not one. */
  decodeIn(raw: unknown): Int16Array | null {
    const frame = decodeAudioFrame(raw);
    if (!frame) {
      this.#invalidIn++;
      return null;
    }
    return frame.samples;
  }

  clear(): void {
    this.#listeners.clear();
  }
}
