// The one IPC client: the WzpApi the renderer sees, over any link that can carry a request and
// an audio frame (the Electron preload's ipcRenderer and MessagePort, the web host's WebSocket).
// It is where the page's side of the contract is enforced: command and event names checked
// before anything leaves, every response and event validated before a handler sees it, audio
// only as whole frames. Things the host sent that break the contract are dropped and counted.
import {
  AUDIO_FRAME_BYTES,
  isCommandName,
  isEventName,
  parseEvent,
  parseResponse,
  type CommandName,
  type EventName,
  type EventPayload,
  type IpcRequest,
  type IpcResult,
  type WzpApi,
} from './ipc-contract.ts';

export interface IpcLink {
  /**
   * Carry one request; resolves with the response envelope as received (checked here), and
   * rejects when the app did not answer.
   */
  request(req: IpcRequest): Promise<unknown>;
  /** One whole audio frame to the app. */
  sendAudio(frame: ArrayBuffer): void;
}

export interface IpcClient {
  readonly api: WzpApi;
  /** An event envelope ({event, payload}) as the link received it. */
  receiveEvent(raw: unknown): void;
  /** An audio frame as the link received it (ArrayBuffer or a view). */
  receiveAudio(raw: unknown): void;
  /** What the host sent that did not match the contract. */
  invalidMessages(): number;
  /** Count one message the link itself could not read. */
  countInvalid(): void;
}

export function createIpcClient(link: IpcLink): IpcClient {
  const handlers = new Map<EventName, Set<(p: never) => void>>();
  const audioHandlers = new Set<(f: ArrayBuffer) => void>();
  let invalid = 0;

  const api: WzpApi = Object.freeze({
    async invoke<C extends CommandName>(cmd: C, args: unknown): Promise<IpcResult<C>> {
      if (!isCommandName(cmd)) {
        return { ok: false, error: { code: 'unknown-command', message: 'unknown command' } };
      }
      let raw: unknown;
      try {
        raw = await link.request({ cmd, args });
      } catch {
        return { ok: false, error: { code: 'internal', message: 'the app did not answer' } };
      }
      return parseResponse(cmd, raw);
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
        link.sendAudio(frame);
      },
      onFrame(handler: (frame: ArrayBuffer) => void): () => void {
        if (typeof handler !== 'function') return () => {};
        audioHandlers.add(handler);
        return () => {
          audioHandlers.delete(handler);
        };
      },
    }),
  });

  return {
    api,
    receiveEvent(raw) {
      const e = parseEvent(raw);
      if (!e) {
        invalid++;
        return;
      }
      const payload = e.payload;
      for (const h of handlers.get(e.event) ?? []) (h as (p: typeof payload) => void)(payload);
    },
    receiveAudio(raw) {
      let buf: ArrayBuffer | null = null;
      if (raw instanceof ArrayBuffer) buf = raw;
      else if (ArrayBuffer.isView(raw))
        buf = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
      if (!buf || buf.byteLength !== AUDIO_FRAME_BYTES) {
        invalid++;
        return;
      }
      for (const h of audioHandlers) h(buf);
    },
    invalidMessages: () => invalid,
    countInvalid: () => {
      invalid++;
    },
  };
}
