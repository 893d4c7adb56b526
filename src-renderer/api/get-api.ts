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
  const token = takeTokenFromFragment(window.location, (u) =>
    window.history.replaceState(null, '', u),
  );
  const url = `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}/ipc`;
  const api = await createWsApi(url, token);
  return { api, host: 'web', onConnectionChange: (h) => api.onConnectionChange(h) };
}
