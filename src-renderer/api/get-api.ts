// Picks the transport: the Electron preload's `window.wzp` when present, otherwise the web
// host's WebSocket on the page's own origin.
import type { WzpApi } from '../../src-shared/ipc-contract.ts';
import { createWsApi, takeTokenFromFragment } from './ws-transport.ts';

declare global {
  interface Window {
    wzp?: WzpApi;
  }
}

export interface ConnectedApi {
  api: WzpApi;
  host: 'electron' | 'web';
  onConnectionChange(handler: (up: boolean) => void): () => void;
}

export async function getApi(): Promise<ConnectedApi> {
  if (window.wzp) {
    return { api: window.wzp, host: 'electron', onConnectionChange: () => () => {} };
  }
  // The token arrives once in the fragment; sessionStorage (this origin and port, this tab)
  // keeps it across reloads without a cookie, which every server on 127.0.0.1 would receive.
  const token =
    takeTokenFromFragment(window.location, (u) => window.history.replaceState(null, '', u)) ??
    readStoredToken();
  if (token) storeToken(token);
  const url = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ipc`;
  const api = await createWsApi(url, token);
  return { api, host: 'web', onConnectionChange: (h) => api.onConnectionChange(h) };
}

const TOKEN_KEY = 'wzp.token';

function readStoredToken(): string | null {
  try {
    return window.sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string): void {
  try {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage off: the page works until it is reloaded.
  }
}
