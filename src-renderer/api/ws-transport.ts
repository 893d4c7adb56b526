// The WzpApi over the web host's WebSocket: the shared IPC client (src-shared/ipc-client.ts)
// on a link that matches responses to requests by id, takes events as they come, and carries
// audio frames as binary messages; the messages are the envelope of src-shared/ipc-envelope.ts.
// The token comes from the page URL's fragment (never sent in a request line) as a subprotocol.
import { createIpcClient } from '../../src-shared/ipc-client.ts';
import type { IpcResponse, WzpApi } from '../../src-shared/ipc-contract.ts';
import {
  WS_PROTOCOL,
  WS_TOKEN_PROTOCOL_PREFIX,
  WsHostMessageSchema,
  parseWsText,
  wsRequest,
} from '../../src-shared/ipc-envelope.ts';

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

function appError(message: string): IpcResponse {
  return { ok: false, error: { code: 'internal', message } };
}

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
  const pending = new Map<number, (response: unknown) => void>();
  const connHandlers = new Set<(up: boolean) => void>();

  const client = createIpcClient({
    request: (req) => {
      if (ws.readyState !== OPEN) return Promise.resolve(appError('not connected to the app'));
      const id = nextId++;
      return new Promise((resolve) => {
        pending.set(id, resolve);
        ws.send(wsRequest(id, req));
      });
    },
    sendAudio: (frame) => {
      if (ws.readyState === OPEN) ws.send(frame);
    },
  });

  function failAll(): void {
    for (const [, resolve] of pending) resolve(appError('disconnected from the app'));
    pending.clear();
  }

  ws.onmessage = (ev) => {
    if (ev.data instanceof ArrayBuffer) return client.receiveAudio(ev.data);
    const m = typeof ev.data === 'string' ? parseWsText(ev.data, WsHostMessageSchema) : null;
    if (m === null) return client.countInvalid();
    if (m.t === 'evt') return client.receiveEvent({ event: m.event, payload: m.payload });
    const resolve = pending.get(m.id);
    if (!resolve) return client.countInvalid();
    pending.delete(m.id);
    resolve(m.response);
  };

  const api: WsApi = {
    ...client.api,
    onConnectionChange(handler) {
      connHandlers.add(handler);
      return () => connHandlers.delete(handler);
    },
    close: () => ws.close(),
    invalidMessages: () => client.invalidMessages(),
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
