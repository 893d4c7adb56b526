// The sandboxed preload: exposes the typed API (and nothing else) as window.wzp. Bundled into one
// CommonJS file by build.ts, because a sandboxed preload cannot load other modules.
import { contextBridge, ipcRenderer } from 'electron';
import { IPC_CHANNELS } from '../../../src-shared/ipc-envelope.ts';
import { createPreloadApi } from './preload-api.ts';

const api = createPreloadApi({
  invoke: (channel, msg) => ipcRenderer.invoke(channel, msg),
  onEvent: (listener) => {
    ipcRenderer.on(IPC_CHANNELS.event, (_e, msg: unknown) => listener(msg));
  },
  onAudioPort: (listener) => {
    ipcRenderer.on(IPC_CHANNELS.audioPort, (e) => {
      const port = e.ports[0];
      if (!port) return;
      listener({
        postMessage: (data) => port.postMessage(data),
        onMessage: (handler) => {
          port.onmessage = (ev) => handler(ev.data);
        },
        start: () => port.start(),
      });
    });
  },
});

contextBridge.exposeInMainWorld('wzp', api);
