// Renderer entry: connect the typed API (Electron preload or the web host), build the store,
// render the app.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { getApi } from './api/get-api.ts';
import { createAppStore } from './state/app-store.ts';
import { App } from './ui/App.tsx';
import { StoreContext } from './ui/store-context.ts';
import './ui/styles.css';

async function boot(): Promise<void> {
  const rootEl = document.getElementById('root');
  if (!rootEl) return;
  const root = createRoot(rootEl);
  try {
    const { api, host, onConnectionChange } = await getApi();
    document.documentElement.dataset.host = host;
    const store = createAppStore(api, host);
    onConnectionChange((up) => store.getState().setConnected(up));
    await store.getState().init();
    root.render(
      <StrictMode>
        <StoreContext.Provider value={store}>
          <App api={api} />
        </StoreContext.Provider>
      </StrictMode>,
    );
  } catch (e) {
    root.render(
      <p role="alert" className="danger banner">
        {(e as Error).message}
      </p>,
    );
  }
}

void boot();
