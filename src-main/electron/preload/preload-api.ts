// The object the preload exposes as `window.wzp`, built without importing electron so tests can
// check it: exactly the contract's WzpApi (invoke, on, audio), no ipcRenderer, no channel names
// the page can choose. The shared IPC client (src-shared/ipc-client.ts) checks names and
// validates responses and events; this file only links it to Electron's channels and port.
import { createIpcClient } from '../../../src-shared/ipc-client.ts';
import type { WzpApi } from '../../../src-shared/ipc-contract.ts';
import { IPC_CHANNELS } from '../../../src-shared/ipc-envelope.ts';

export interface PortLike {
  postMessage(data: unknown): void;
  onMessage(handler: (data: unknown) => void): void;
  start(): void;
}

/** The few electron capabilities the preload uses (ipcRenderer in production). */
export interface PreloadBridge {
  invoke(channel: string, msg: unknown): Promise<unknown>;
  onEvent(listener: (msg: unknown) => void): void;
  onAudioPort(listener: (port: PortLike) => void): void;
}

export function createPreloadApi(bridge: PreloadBridge): WzpApi {
  let port: PortLike | null = null;
  const client = createIpcClient({
    request: (req) => bridge.invoke(IPC_CHANNELS.invoke, req),
    sendAudio: (frame) => port?.postMessage(frame),
  });
  bridge.onEvent((msg) => client.receiveEvent(msg));
  bridge.onAudioPort((p) => {
    port = p;
    p.onMessage((d) => client.receiveAudio(d));
    p.start();
  });
  return client.api;
}
