// Settings: my name, relay (address and pinned fingerprint), STUN servers, direct calls and router
// port mapping, audio devices with a microphone test, start at login, close to tray.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import {
  describeFingerprintError,
  parseFingerprint,
  type Fingerprint,
} from '../../src-shared/fingerprint.ts';
import type { Settings as SettingsT } from '../../src-shared/ipc-contract.ts';
import { listAudioDevices, startMicMeter, type AudioDevices } from '../audio/call-audio.ts';
import { FingerprintText } from './FingerprintText.tsx';
import { RelayStatus } from './RelayStatus.tsx';
import { useApp } from './store-context.ts';

export function Settings() {
  const settings = useApp((s) => s.snapshot?.settings);
  const identity = useApp((s) => s.snapshot?.identity);
  if (!settings) return null;
  return (
    <div className="settings">
      <General settings={settings} />
      <AudioSettings settings={settings} />
      <RelaySettings settings={settings} />
      {identity && (
        <section className="card" aria-labelledby="set-identity">
          <h2 id="set-identity">My identity</h2>
          <p className="hint">People add you with this fingerprint (or your QR code).</p>
          <FingerprintText fp={identity.fingerprint} label="my fingerprint" />
        </section>
      )}
    </div>
  );
}

function useResult() {
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const show = (r: { ok: true } | { ok: false; message: string }, okText = 'Saved') =>
    setMsg(r.ok ? { ok: true, text: okText } : { ok: false, text: r.message });
  const node = msg && (
    <p role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'hint' : 'error'}>
      {msg.text}
    </p>
  );
  return { show, node };
}

function General({ settings }: { settings: SettingsT }) {
  const update = useApp((s) => s.updateSettings);
  const desktop = useApp((s) => s.host === 'electron');
  const [name, setName] = useState(settings.displayName ?? '');
  const [stun, setStun] = useState(settings.stunServers.join('\n'));
  const { show, node } = useResult();
  async function save(e: FormEvent) {
    e.preventDefault();
    const stunServers = stun.split(/[\s,]+/).filter((s) => s.length > 0);
    show(await update({ displayName: name.trim() || null, stunServers }));
  }
  return (
    <form className="card" onSubmit={(e) => void save(e)} aria-labelledby="set-general">
      <h2 id="set-general">General</h2>
      <label>
        My name (shown to people I call)
        <input value={name} maxLength={64} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        STUN servers (host:port, one per line; empty uses the relay's)
        <textarea rows={2} value={stun} onChange={(e) => setStun(e.target.value)} />
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={settings.directCalls}
          onChange={(e) => void update({ directCalls: e.target.checked }).then((r) => show(r))}
        />
        Try direct (peer-to-peer) calls
      </label>
      <label className="check">
        <input
          type="checkbox"
          checked={settings.portMapping}
          disabled={!settings.directCalls}
          onChange={(e) => void update({ portMapping: e.target.checked }).then((r) => show(r))}
        />
        Ask my router to open a port for direct calls (NAT-PMP, PCP, UPnP)
      </label>
      {desktop && (
        <>
          <label className="check">
            <input
              type="checkbox"
              checked={settings.startAtLogin}
              onChange={(e) => void update({ startAtLogin: e.target.checked }).then((r) => show(r))}
            />
            Start at login
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={settings.closeToTray}
              onChange={(e) => void update({ closeToTray: e.target.checked }).then((r) => show(r))}
            />
            Keep running in the tray when the window is closed
          </label>
        </>
      )}
      {!desktop && <NotificationSetting />}
      <button type="submit">Save</button>
      {node}
    </form>
  );
}

function NotificationSetting() {
  const supported = typeof Notification !== 'undefined';
  const [perm, setPerm] = useState(supported ? Notification.permission : 'denied');
  if (!supported) return null;
  return (
    <p className="row">
      <span>
        Notifications for incoming calls while this tab is in the background:{' '}
        <strong>
          {perm === 'granted' ? 'on' : perm === 'denied' ? 'blocked by the browser' : 'off'}
        </strong>
      </span>
      {perm === 'default' && (
        <button
          type="button"
          onClick={() =>
            void Notification.requestPermission()
              .then(setPerm)
              .catch(() => {})
          }
        >
          Allow notifications
        </button>
      )}
    </p>
  );
}

function RelaySettings({ settings }: { settings: SettingsT }) {
  const configure = useApp((s) => s.configureRelay);
  const [address, setAddress] = useState(settings.relay?.address ?? '');
  const [fp, setFp] = useState(settings.relay?.fingerprint ?? '');
  const { show, node } = useResult();
  async function save(e: FormEvent) {
    e.preventDefault();
    const p = parseFingerprint(fp);
    if (!p.ok)
      return show({
        ok: false,
        message: `Relay fingerprint: ${describeFingerprintError(p.error)}`,
      });
    show(await configure(address.trim(), p.value), 'Relay saved; reconnecting');
  }
  return (
    <form className="card" onSubmit={(e) => void save(e)} aria-labelledby="set-relay">
      <h2 id="set-relay">Relay</h2>
      <RelayStatus />
      {settings.relay && (
        <FingerprintText
          fp={settings.relay.fingerprint as Fingerprint}
          label="pinned relay fingerprint"
        />
      )}
      <label>
        Relay address
        <input value={address} onChange={(e) => setAddress(e.target.value)} />
      </label>
      <label>
        Relay fingerprint (pinned)
        <textarea rows={2} value={fp} onChange={(e) => setFp(e.target.value)} />
      </label>
      <button type="submit">Save relay</button>
      {node}
    </form>
  );
}

function AudioSettings({ settings }: { settings: SettingsT }) {
  const update = useApp((s) => s.updateSettings);
  const [devices, setDevices] = useState<AudioDevices>({ inputs: [], outputs: [] });
  const [level, setLevel] = useState(-90);
  const [testing, setTesting] = useState(false);
  const stopRef = useRef<(() => void) | null>(null);
  const { show, node } = useResult();

  useEffect(() => {
    void listAudioDevices()
      .then(setDevices)
      .catch(() => {});
    return () => stopRef.current?.();
  }, []);

  async function toggleTest() {
    if (stopRef.current) {
      stopRef.current();
      stopRef.current = null;
      setTesting(false);
      return;
    }
    try {
      stopRef.current = await startMicMeter(settings.audio.inputDeviceId, setLevel);
      setTesting(true);
      setDevices(await listAudioDevices());
    } catch (e) {
      show({ ok: false, message: `Microphone: ${(e as Error).message}` });
    }
  }

  const setAudio = (patch: Partial<SettingsT['audio']>) =>
    void update({ audio: { ...settings.audio, ...patch } }).then((r) => show(r));

  return (
    <section className="card" aria-labelledby="set-audio">
      <h2 id="set-audio">Audio</h2>
      <label>
        Microphone
        <select
          value={settings.audio.inputDeviceId ?? ''}
          onChange={(e) => setAudio({ inputDeviceId: e.target.value || null })}
        >
          <option value="">System default</option>
          {devices.inputs.map((d) => (
            <option key={d.id} value={d.id}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Speaker
        <select
          value={settings.audio.outputDeviceId ?? ''}
          onChange={(e) => setAudio({ outputDeviceId: e.target.value || null })}
        >
          <option value="">System default</option>
          {devices.outputs.map((d) => (
            <option key={d.id} value={d.id}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
      <div className="row">
        <button type="button" onClick={() => void toggleTest()}>
          {testing ? 'Stop microphone test' : 'Test microphone'}
        </button>
        <meter aria-label="microphone level" min={-60} max={0} value={Math.max(-60, level)} />
      </div>
      {node}
    </section>
  );
}
