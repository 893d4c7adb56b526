// The app frame: picks the screen from the snapshot (first run, call screens, or the main
// window), shows notices, announces incoming calls to screen readers, plays the call sounds,
// alerts a background tab (title and notification, web host), wires the keyboard shortcuts and
// runs the call audio while a call is connected.
import { useEffect, useRef, useState } from 'react';
import type { CallView, HistoryEntry, WzpApi } from '../../src-shared/ipc-contract.ts';
import { CallAudio } from '../audio/call-audio.ts';
import { CallSounds } from '../audio/call-sounds.ts';
import type { Host } from '../state/app-store.ts';
import { endCueFor, loopSoundFor, screenFor, shortcutFor } from '../state/derive.ts';
import { CallScreen } from './CallScreens.tsx';
import { FirstRun } from './FirstRun.tsx';
import { MainWindow } from './MainWindow.tsx';
import { X } from './icons.ts';
import { useCallDevices, type CallDevices } from './call-devices.ts';
import { useApp, useAppStore } from './store-context.ts';

export function App({ api }: { api: WzpApi }) {
  const store = useAppStore();
  const snapshot = useApp((s) => s.snapshot);
  const connected = useApp((s) => s.connected);
  const onboarding = useApp((s) => s.onboarding);
  const host = useApp((s) => s.host);
  const screen = screenFor(snapshot, onboarding);
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
  const devices = useCallDevices(
    inCallId !== null,
    snapshot?.settings.audio.inputDeviceId ?? null,
    snapshot?.settings.audio.outputDeviceId ?? null,
  );
  const audioRef = useRef<CallAudio | null>(null);
  const devicesRef = useRef(devices);
  devicesRef.current = devices;
  useEffect(() => {
    if (!inCallId) return;
    const audio = new CallAudio();
    audioRef.current = audio;
    void audio.start({
      api,
      inputDeviceId: devicesRef.current.input,
      outputDeviceId: devicesRef.current.output,
      onLevel: setMicDb,
      onError: (message) =>
        store.setState((s) => ({
          notices: [...s.notices, { level: 'warning', message, id: Date.now() }],
        })),
    });
    return () => {
      audioRef.current = null;
      void audio.stop();
    };
  }, [inCallId, api, store]);
  // Mid-call device changes (the person's choice, or a device unplugged): the call goes on.
  useEffect(() => void audioRef.current?.setInputDevice(devices.input), [devices.input]);
  useEffect(() => void audioRef.current?.setOutputDevice(devices.output), [devices.output]);

  useCallSounds(call, snapshot?.history ?? [], snapshot?.settings.audio.outputDeviceId ?? null);
  useIncomingAlert(call, host);

  return (
    <div className="app">
      {!connected && snapshot && (
        <p role="alert" className="banner danger">
          Lost the connection to the app.{' '}
          <button type="button" onClick={() => window.location.reload()}>
            Reconnect
          </button>
        </p>
      )}
      <Announcer call={call} />
      <Notices />
      {screen === 'connecting' && <p className="centered">Connecting…</p>}
      {screen === 'first-run' && <FirstRun />}
      {(screen === 'incoming' || screen === 'outgoing' || screen === 'in-call') && call && (
        <CallScreen call={call} micDb={micDb} devices={devices} />
      )}
      {screen === 'main' && <MainWindow />}
    </div>
  );
}

export type { CallDevices };

function callerName(call: CallView): string {
  return call.name ?? 'Unknown caller';
}

/** A screen reader hears an incoming call, and when a call connects or ends. */
function Announcer({ call }: { call: CallView | null }) {
  const [text, setText] = useState('');
  const last = useRef<string>('');
  useEffect(() => {
    let next = '';
    if (call?.direction === 'incoming' && call.state === 'ringing')
      next = `Incoming call from ${callerName(call)}`;
    else if (call?.state === 'connected') next = `In call with ${callerName(call)}`;
    else if (!call && last.current) next = 'Call ended';
    if (next && next !== last.current) setText(next);
    last.current = next || (call ? last.current : '');
  }, [call]);
  return (
    <div className="sr-only" role="status" aria-live="assertive" aria-atomic="true">
      {text}
    </div>
  );
}

function useCallSounds(
  call: CallView | null,
  history: readonly HistoryEntry[],
  outputDeviceId: string | null,
): void {
  const sounds = useRef<CallSounds | null>(null);
  const prev = useRef<CallView | null>(null);
  useEffect(() => {
    const s = new CallSounds();
    sounds.current = s;
    return () => {
      s.close();
      sounds.current = null;
    };
  }, []);
  useEffect(() => sounds.current?.setOutputDevice(outputDeviceId), [outputDeviceId]);
  useEffect(() => {
    const s = sounds.current;
    if (!s) return;
    s.setLoop(loopSoundFor(call));
    const p = prev.current;
    if (p && (!call || call.id !== p.id)) {
      const cue = endCueFor(
        p,
        history.find((h) => h.id === p.id),
      );
      if (cue) s.cue(cue);
    }
    prev.current = call;
  }, [call, history]);
}

/** In a browser tab, a call coming in flashes the title and raises a notification. */
function useIncomingAlert(call: CallView | null, host: Host): void {
  const ringing = call?.direction === 'incoming' && call.state === 'ringing';
  const who = call ? callerName(call) : '';
  const id = call?.id ?? null;
  useEffect(() => {
    if (host !== 'web' || !ringing || !id) return;
    const base = document.title;
    const text = `Incoming call: ${who}`;
    let on = true;
    document.title = text;
    const t = setInterval(() => {
      on = !on;
      document.title = on ? text : base;
    }, 1000);
    let note: Notification | null = null;
    if (typeof Notification !== 'undefined' && Notification.permission === 'granted') {
      note = new Notification(`${who} is calling`, {
        body: 'Open wz-phone to answer.',
        tag: `wzp-call-${id}`,
        requireInteraction: true,
      });
      note.onclick = () => {
        window.focus();
        note?.close();
      };
    }
    return () => {
      clearInterval(t);
      document.title = base;
      note?.close();
    };
  }, [host, ringing, who, id]);
}

function Notices() {
  const notices = useApp((s) => s.notices);
  const dismiss = useApp((s) => s.dismissNotice);
  if (notices.length === 0) return null;
  return (
    <ul className="notices" aria-live="polite" aria-label="Notices">
      {notices.map((n) => (
        <li key={n.id} className={`notice ${n.level}`}>
          <span>{n.message}</span>
          <button
            type="button"
            className="icon-only"
            aria-label={`Dismiss: ${n.message}`}
            onClick={() => dismiss(n.id)}
          >
            <X size={16} aria-hidden="true" />
          </button>
        </li>
      ))}
    </ul>
  );
}
