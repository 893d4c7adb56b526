// The object the preload exposes as `window.wzp`, built without importing electron so tests can
// check it: exactly the contract's WzpApi (invoke, on, audio), no ipcRenderer, no channel names
// the page can choose. Command and event names are checked against the contract here too, and
// responses and events are validated before the page sees them.
import {
  AUDIO_FRAME_BYTES,
  IPC_CHANNELS,
  isCommandName,
  isEventName,
  parseEvent,
  parseResponse,
  type CommandName,
  type EventName,
  type EventPayload,
  type IpcResult,
  type WzpApi,
} from '../../../src-shared/ipc-contract.ts';

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
  const handlers = new Map<EventName, Set<(p: never) => void>>();
  const audioHandlers = new Set<(f: ArrayBuffer) => void>();
  let port: PortLike | null = null;

  bridge.onEvent((msg) => {
    const e = parseEvent(msg);
    if (!e) return;
    const payload = e.payload;
    for (const h of handlers.get(e.event) ?? []) (h as (p: typeof payload) => void)(payload);
  });
  bridge.onAudioPort((p) => {
    port = p;
    p.onMessage((d) => {
      let buf: ArrayBuffer | null = null;
      if (d instanceof ArrayBuffer) buf = d;
      else if (ArrayBuffer.isView(d))
        buf = d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength) as ArrayBuffer;
      if (!buf || buf.byteLength !== AUDIO_FRAME_BYTES) return;
      for (const h of audioHandlers) h(buf);
    });
    p.start();
  });

  const api: WzpApi = {
    async invoke<C extends CommandName>(cmd: C, args: unknown): Promise<IpcResult<C>> {
      if (!isCommandName(cmd)) {
        return { ok: false, error: { code: 'unknown-command', message: 'unknown command' } };
      }
      try {
        const raw = await bridge.invoke(IPC_CHANNELS.invoke, { cmd, args });
        return parseResponse(cmd, raw);
      } catch {
        return { ok: false, error: { code: 'internal', message: 'the app did not answer' } };
      }
    },
    on<E extends EventName>(event: E, handler: (payload: EventPayload<E>) => void): () => void {
      if (!isEventName(event) || typeof handler !== 'function') return () => {};
      let set = handlers.get(event);
      if (!set) handlers.set(event, (set = new Set()));
      const h = handler as (p: never) => void;
      set.add(h);
      return () => {
        set.delete(h);
      };
    },
    audio: Object.freeze({
      send(frame: ArrayBuffer): void {
        if (!(frame instanceof ArrayBuffer) || frame.byteLength !== AUDIO_FRAME_BYTES) return;
        port?.postMessage(frame);
      },
      onFrame(handler: (frame: ArrayBuffer) => void): () => void {
        if (typeof handler !== 'function') return () => {};
        audioHandlers.add(handler);
        return () => {
          audioHandlers.delete(handler);
        };
      },
    }),
  };
  return Object.freeze(api);
}
