// The call screen: a large avatar and the name (marked "not in your contacts" for strangers),
// what is happening (calling, ringing, incoming, the running time), the path and the quality,
// the safety words to read aloud, a labelled microphone meter, and round icon buttons with text
// labels: Answer (it takes focus) and Decline, Mute and Hang up.
import { useEffect, useRef, useState, type ReactNode } from 'react';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type { CallView } from '../../src-shared/ipc-contract.ts';
import { formatDuration, qualityOf, qualityTitle } from '../state/derive.ts';
import { Avatar } from './Avatar.tsx';
import { FingerprintText } from './FingerprintText.tsx';
import { useNow } from './hooks.ts';
import { BadgeCheck, Mic, MicOff, Phone, PhoneOff, ShieldAlert } from './icons.ts';
import type { CallDevices } from './call-devices.ts';
import { useApp } from './store-context.ts';

function Who({ call, children }: { call: CallView; children?: ReactNode }) {
  const ringing = call.state === 'ringing' || call.state === 'calling';
  return (
    <div className="who">
      <span className={`avatar-ring${ringing ? ' pulsing' : ''}`}>
        <Avatar name={call.name} fingerprint={call.peer} size={128} />
      </span>
      <h1>
        {call.name ?? 'Unknown caller'}
        {call.verified && !call.keyWarning && (
          <BadgeCheck size={22} className="verified-icon" aria-label="verified" />
        )}
      </h1>
      {children}
      {call.keyWarning && (
        <p role="alert" className="danger">
          <ShieldAlert size={18} aria-hidden="true" /> This contact's key changed recently and has
          not been re-verified.
        </p>
      )}
      {call.contactId === null && (
        <div className="stranger">
          <span className="tag">not in your contacts</span>
          <p className="hint">Check their fingerprint before you trust them:</p>
          <FingerprintText fp={call.peer as Fingerprint} label="caller fingerprint" />
        </div>
      )}
    </div>
  );
}

export function CallScreen({
  call,
  micDb,
  devices,
}: {
  call: CallView;
  micDb: number;
  devices: CallDevices;
}) {
  if (call.state === 'connected') return <InCall call={call} micDb={micDb} devices={devices} />;
  if (call.direction === 'incoming') return <IncomingCall call={call} />;
  return <OutgoingCall call={call} />;
}

function OutgoingCall({ call }: { call: CallView }) {
  const hangUp = useApp((s) => s.hangUp);
  return (
    <main className="call-screen outgoing" aria-label="Outgoing call">
      <Who call={call}>
        <p className="call-state">{call.state === 'ringing' ? 'Ringing…' : 'Calling…'}</p>
      </Who>
      <div className="call-buttons">
        <RoundButton kind="hangup" label="Cancel" onClick={() => void hangUp()} />
      </div>
    </main>
  );
}

function IncomingCall({ call }: { call: CallView }) {
  const answer = useApp((s) => s.answer);
  const decline = useApp((s) => s.decline);
  return (
    <main className="call-screen incoming" aria-label="Incoming call">
      <Who call={call}>
        <p className="call-state">Incoming call</p>
      </Who>
      <div className="call-buttons">
        <RoundButton kind="hangup" label="Decline" onClick={() => void decline()} />
        <RoundButton kind="answer" label="Answer" onClick={() => void answer()} autoFocus />
      </div>
      <p className="hint">Enter answers · Ctrl+Shift+A answers, Ctrl+Shift+D declines</p>
    </main>
  );
}

function InCall({ call, micDb, devices }: { call: CallView; micDb: number; devices: CallDevices }) {
  const hangUp = useApp((s) => s.hangUp);
  const toggleMute = useApp((s) => s.toggleMute);
  const now = useNow(500);
  const elapsed = call.connectedAt ? (now - call.connectedAt) / 1000 : 0;
  const q = call.reconnecting ? 'unknown' : qualityOf(call.stats, now);
  const path = call.path === 'direct' ? 'Direct' : call.path === 'relay' ? 'Relay' : 'Connecting';
  const level = Math.max(-60, micDb);
  const speakingMuted = useSpeakingWhileMuted(call.muted, micDb);
  return (
    <main className="call-screen in-call" aria-label="In call">
      <Who call={call}>
        <p className="timer" aria-label="call duration">
          {formatDuration(elapsed)}
        </p>
      </Who>
      <div className="chips">
        <span className="chip" aria-label="media path">
          {path === 'Direct'
            ? 'Direct (peer-to-peer)'
            : path === 'Relay'
              ? 'Relay (through the relay server)'
              : path}
        </span>
        <span
          className={`chip quality ${q}`}
          title={qualityTitle(call.stats)}
          aria-label={`quality ${q}: ${qualityTitle(call.stats)}`}
        >
          Quality: {q === 'unknown' ? 'no data' : q}
        </span>
      </div>
      {call.reconnecting && (
        <p className="reconnecting" role="status" aria-live="polite">
          Reconnecting…
        </p>
      )}
      {call.sas && (
        <p className="sas">
          Safety words — read them aloud and compare: <strong>{call.sas}</strong>
        </p>
      )}
      <label className="meter">
        <span>{call.muted ? 'Your microphone (muted)' : 'Your microphone'}</span>
        <meter
          className="mic-level"
          aria-label="Your microphone level"
          min={-60}
          max={0}
          low={-30}
          high={-6}
          optimum={-18}
          value={level}
        />
      </label>
      {speakingMuted && (
        <p className="muted-hint" role="status">
          You are muted. Unmute to be heard.
        </p>
      )}
      <div className="call-buttons">
        <RoundButton
          kind={call.muted ? 'muted' : 'mute'}
          label={call.muted ? 'Unmute' : 'Mute'}
          pressed={call.muted}
          onClick={() => void toggleMute()}
        />
        <RoundButton kind="hangup" label="Hang up" onClick={() => void hangUp()} />
      </div>
      <DevicePicker devices={devices} />
      <p className="hint">Ctrl+Shift+M mutes · Ctrl+Shift+H hangs up</p>
    </main>
  );
}

/** The microphone and speaker of this call, changeable without interrupting it. */
function DevicePicker({ devices }: { devices: CallDevices }) {
  const audio = useApp((s) => s.snapshot?.settings.audio);
  const update = useApp((s) => s.updateSettings);
  if (!audio) return null;
  const choose = (patch: Partial<typeof audio>) => void update({ audio: { ...audio, ...patch } });
  return (
    <div className="devices">
      <label>
        Microphone
        <select
          aria-label="Microphone"
          value={devices.input ?? ''}
          onChange={(e) => choose({ inputDeviceId: e.target.value || null })}
        >
          <option value="">System default</option>
          {devices.devices.inputs.map((d) => (
            <option key={d.id} value={d.id}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Speaker
        <select
          aria-label="Speaker"
          value={devices.output ?? ''}
          onChange={(e) => choose({ outputDeviceId: e.target.value || null })}
        >
          <option value="">System default</option>
          {devices.devices.outputs.map((d) => (
            <option key={d.id} value={d.id}>
              {d.label}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

/** Speech (the microphone above -40 dBFS for 0.6 s) while muted; cleared after 3 s of quiet. */
export function useSpeakingWhileMuted(muted: boolean, micDb: number): boolean {
  const [on, setOn] = useState(false);
  const loudSince = useRef<number | null>(null);
  const quietSince = useRef<number | null>(null);
  useEffect(() => {
    const now = Date.now();
    if (!muted) {
      loudSince.current = quietSince.current = null;
      setOn(false);
      return;
    }
    if (micDb > -40) {
      quietSince.current = null;
      loudSince.current ??= now;
      if (now - loudSince.current >= 600) setOn(true);
    } else {
      loudSince.current = null;
      quietSince.current ??= now;
      if (now - quietSince.current >= 3000) setOn(false);
    }
  }, [muted, micDb]);
  return on;
}

function RoundButton({
  kind,
  label,
  onClick,
  pressed,
  autoFocus,
}: {
  kind: 'answer' | 'hangup' | 'mute' | 'muted';
  label: string;
  onClick: () => void;
  pressed?: boolean;
  autoFocus?: boolean;
}) {
  const Icon =
    kind === 'answer' ? Phone : kind === 'hangup' ? PhoneOff : kind === 'muted' ? MicOff : Mic;
  return (
    <button
      type="button"
      className={`call-button ${kind}`}
      onClick={onClick}
      aria-pressed={pressed}
      autoFocus={autoFocus}
    >
      <span className="disc">
        <Icon size={28} aria-hidden="true" />
      </span>
      <span className="label">{label}</span>
    </button>
  );
}
