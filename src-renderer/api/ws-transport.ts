// The WzpApi over the web host's WebSocket: requests as JSON with ids, events pushed as JSON,
// audio frames as binary messages. Every response and event is checked against the contract
// before the UI sees it. The token comes from the page URL's fragment (never sent in a request
// line) as a subprotocol; without one the HttpOnly cookie from the first load authenticates.
import {
  parseEvent,
  parseResponse,
  type CommandName,
  type EventName,
  type EventPayload,
  type IpcResult,
  type WzpApi,
} from '../../src-shared/ipc-contract.ts';

export const WS_PROTOCOL = 'wzp.v1';
export const WS_TOKEN_PROTOCOL_PREFIX = 'wzp.token.';

export interface WsLike {
  binaryType: string;
  readyState: number;
  send(data: string | ArrayBuffer): void;
  close(): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: unknown) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
}

export interface WsApi extends WzpApi {
  onConnectionChange(handler: (up: boolean) => void): () => void;
  close(): void;
  /** Messages from the host that did not match the contract. */
  invalidMessages(): number;
}

const OPEN = 1;

export function createWsApi(
  url: string,
  token: string | null,
  makeSocket: (url: string, protocols: string[]) => WsLike = (u, p) =>
    new WebSocket(u, p) as unknown as WsLike,
): Promise<WsApi> {
  const protocols = token ? [WS_PROTOCOL, WS_TOKEN_PROTOCOL_PREFIX + token] : [WS_PROTOCOL];
  const ws = makeSocket(url, protocols);
  ws.binaryType = 'arraybuffer';
  let nextId = 1;
  let invalid = 0;
  const pending = new Map<
    number,
    { cmd: CommandName; resolve: (r: IpcResult<CommandName>) => void }
  >();
  const handlers = new Map<EventName, Set<(p: never) => void>>();
  const audioHandlers = new Set<(f: ArrayBuffer) => void>();
  const connHandlers = new Set<(up: boolean) => void>();

  function failAll(): void {
    for (const [, p] of pending)
      p.resolve({ ok: false, error: { code: 'internal', message: 'disconnected from the app' } });
    pending.clear();
  }

  ws.onmessage = (ev) => {
    if (ev.data instanceof ArrayBuffer) {
      for (const h of audioHandlers) h(ev.data);
      return;
    }
    if (typeof ev.data !== 'string' || ev.data.length > 4_000_000) {
      invalid++;
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      invalid++;
      return;
    }
    if (typeof msg !== 'object' || msg === null) {
      invalid++;
      return;
    }
    const m = msg as {
      t?: unknown;
      id?: unknown;
      response?: unknown;
      event?: unknown;
      payload?: unknown;
    };
    if (m.t === 'res' && typeof m.id === 'number') {
      const p = pending.get(m.id);
      if (!p) {
        invalid++;
        return;
      }
      pending.delete(m.id);
      p.resolve(parseResponse(p.cmd, m.response));
      return;
    }
    if (m.t === 'evt') {
      const e = parseEvent({ event: m.event, payload: m.payload });
      if (!e) {
        invalid++;
        return;
      }
      const payload = e.payload;
      for (const h of handlers.get(e.event) ?? []) (h as (p: typeof payload) => void)(payload);
      return;
    }
    invalid++;
  };

  const api: WsApi = {
    invoke<C extends CommandName>(cmd: C, args: unknown): Promise<IpcResult<C>> {
      if (ws.readyState !== OPEN) {
        return Promise.resolve({
          ok: false,
          error: { code: 'internal', message: 'not connected to the app' },
        });
      }
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, { cmd, resolve: resolve as (r: IpcResult<CommandName>) => void });
        ws.send(JSON.stringify({ t: 'req', id, cmd, args }));
      });
    },
    on<E extends EventName>(event: E, handler: (payload: EventPayload<E>) => void): () => void {
      let set = handlers.get(event);
      if (!set) handlers.set(event, (set = new Set()));
      const h = handler as (p: never) => void;
      set.add(h);
      return () => set.delete(h);
    },
    audio: {
      send(frame: ArrayBuffer) {
        if (ws.readyState === OPEN) ws.send(frame);
      },
      onFrame(handler) {
        audioHandlers.add(handler);
        return () => audioHandlers.delete(handler);
      },
    },
    onConnectionChange(handler) {
      connHandlers.add(handler);
      return () => connHandlers.delete(handler);
    },
    close: () => ws.close(),
    invalidMessages: () => invalid,
  };

  return new Promise((resolve, reject) => {
    let opened = false;
    ws.onopen = () => {
      opened = true;
      for (const h of connHandlers) h(true);
      resolve(api);
    };
    ws.onerror = () => {
      if (!opened)
        reject(
          new Error(
            'cannot connect to the app (is the web host running, and was the page opened with its token?)',
          ),
        );
    };
    ws.onclose = () => {
      failAll();
      for (const h of connHandlers) h(false);
      if (!opened)
        reject(
          new Error(
            'the app refused the connection (wrong token, or another tab is already connected)',
          ),
        );
    };
  });
}

/** Reads `#token=...` from the address and removes it from the address bar. */
export function takeTokenFromFragment(
  loc: { hash: string; pathname: string; search: string },
  replace: (url: string) => void,
): string | null {
  const m = /(?:^#|&)token=([A-Za-z0-9_-]{16,128})(?:&|$)/.exec(loc.hash);
  if (!m) return null;
  replace(loc.pathname + loc.search);
  return m[1] ?? null;
}
