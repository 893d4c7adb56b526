// The app frame: picks the screen from the snapshot (first run, call screens, or the main tabs),
// shows notices, wires the keyboard shortcuts and runs the call audio while a call is connected.
import { useEffect, useRef, useState } from 'react';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type { WzpApi } from '../../src-shared/ipc-contract.ts';
import { CallAudio } from '../audio/call-audio.ts';
import { screenFor, shortcutFor } from '../state/derive.ts';
import { AddContactDialog } from './AddContactDialog.tsx';
import { IncomingCall, InCall, OutgoingCall } from './CallScreens.tsx';
import { Contacts } from './Contacts.tsx';
import { FirstRun } from './FirstRun.tsx';
import { History } from './History.tsx';
import { QrDialog } from './QrDialog.tsx';
import { Settings } from './Settings.tsx';
import { useApp, useAppStore } from './store-context.ts';

export function App({ api }: { api: WzpApi }) {
  const store = useAppStore();
  const snapshot = useApp((s) => s.snapshot);
  const connected = useApp((s) => s.connected);
  const screen = screenFor(snapshot);
  const call = snapshot?.call ?? null;
  const [micDb, setMicDb] = useState(-90);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const s = store.getState();
      const action = shortcutFor(e, s.snapshot?.call ?? null);
      if (!action) return;
      e.preventDefault();
      if (action === 'answer') void s.answer();
      else if (action === 'decline') void s.decline();
      else if (action === 'hang-up') void s.hangUp();
      else void s.toggleMute();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [store]);

  const inCallId = screen === 'in-call' ? (call?.id ?? null) : null;
  const audioRef = useRef<CallAudio | null>(null);
  useEffect(() => {
    if (!inCallId) return;
    const audio = new CallAudio();
    audioRef.current = audio;
    const st = store.getState();
    void audio.start({
      api,
      inputDeviceId: st.snapshot?.settings.audio.inputDeviceId ?? null,
      outputDeviceId: st.snapshot?.settings.audio.outputDeviceId ?? null,
      onLevel: setMicDb,
      onError: (message) =>
        store.setState((s) => ({
          notices: [...s.notices, { level: 'warning', message, id: Date.now() }],
        })),
    });
    return () => {
      void audio.stop();
      audioRef.current = null;
    };
  }, [inCallId, api, store]);

  return (
    <div className="app">
      {!connected && snapshot && (
        <p role="alert" className="danger banner">
          Lost the connection to the app.{' '}
          <button onClick={() => window.location.reload()}>Reconnect</button>
        </p>
      )}
      <Notices />
      {screen === 'connecting' && <p className="centered">Connecting…</p>}
      {screen === 'first-run' && <FirstRun />}
      {screen === 'incoming' && call && <IncomingCall call={call} />}
      {screen === 'outgoing' && call && <OutgoingCall call={call} />}
      {screen === 'in-call' && call && <InCall call={call} micDb={micDb} />}
      {screen === 'main' && <Main />}
    </div>
  );
}

function Notices() {
  const notices = useApp((s) => s.notices);
  const dismiss = useApp((s) => s.dismissNotice);
  if (notices.length === 0) return null;
  return (
    <ul className="notices" aria-live="polite">
      {notices.map((n) => (
        <li key={n.id} className={`notice ${n.level}`}>
          {n.message}
          <button type="button" aria-label="Dismiss" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </li>
      ))}
    </ul>
  );
}

function Main() {
  const view = useApp((s) => s.view);
  const setView = useApp((s) => s.setView);
  const relay = useApp((s) => s.snapshot?.relay);
  const identity = useApp((s) => s.snapshot?.identity);
  const qrOpen = useApp((s) => s.qrOpen);
  const setQrOpen = useApp((s) => s.setQrOpen);
  const addOpen = useApp((s) => s.addContactOpen);
  const tabs = [
    ['contacts', 'Contacts'],
    ['history', 'History'],
    ['settings', 'Settings'],
  ] as const;
  return (
    <>
      <header className="top">
        <nav aria-label="Main">
          {tabs.map(([id, label]) => (
            <button
              key={id}
              type="button"
              aria-current={view === id ? 'page' : undefined}
              onClick={() => setView(id)}
            >
              {label}
            </button>
          ))}
        </nav>
        <span className={`relay-state ${relay?.state ?? ''}`} title={relay?.detail ?? ''}>
          Relay: {relay?.state ?? '…'}
        </span>
        <button type="button" onClick={() => setQrOpen(true)}>
          Show my QR code
        </button>
      </header>
      <main>
        {view === 'contacts' && <Contacts />}
        {view === 'history' && <History />}
        {view === 'settings' && <Settings />}
      </main>
      {qrOpen && identity && <QrDialog fingerprint={identity.fingerprint as Fingerprint} />}
      {addOpen && <AddContactDialog />}
    </>
  );
}
