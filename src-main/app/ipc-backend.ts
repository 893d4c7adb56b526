// What a host needs from the application to carry the IPC contract: untrusted requests and audio
// frames in, responses, events and audio frames out. AppService implements it; the web host
// and the Electron shell only move bytes between it and the renderer.
import type { IpcEvent, IpcResponse } from '../../src-shared/ipc-contract.ts';

export interface IpcBackend {
  /** One untrusted request envelope; never throws. */
  handleRequest(raw: unknown): Promise<IpcResponse>;
  /** One untrusted audio frame from the renderer's microphone. */
  handleAudioIn(raw: unknown): void;
  onEvent(listener: (e: IpcEvent) => void): () => void;
  /** Encoded frames to play (see encodeAudioFrame). */
  onAudioOut(listener: (frame: ArrayBuffer) => void): () => void;
}
