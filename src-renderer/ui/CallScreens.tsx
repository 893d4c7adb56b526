// The call screens: outgoing (calling / ringing), incoming (Answer / Decline) and in call
// (timer, path, quality, mute, hang up, mic level, the words to compare aloud).
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import type { CallView } from '../../src-shared/ipc-contract.ts';
import { formatDuration, qualityOf, qualityTitle } from '../state/derive.ts';
import { FingerprintText } from './FingerprintText.tsx';
import { useNow } from './hooks.ts';
import { useApp } from './store-context.ts';

function Who({ call }: { call: CallView }) {
  return (
    <div className="who">
      <h1>{call.name ?? 'Unknown caller'}</h1>
      {call.verified && <span className="verified">✓ Verified</span>}
      <FingerprintText fp={call.peer as Fingerprint} label="caller fingerprint" />
      {call.keyWarning && (
        <p role="alert" className="danger">
          ⚠ This contact's key changed recently and has not been re-verified.
        </p>
      )}
      {call.name === null && (
        <p className="warning">Not in your contacts: check the fingerprint before trusting them.</p>
      )}
    </div>
  );
}

export function OutgoingCall({ call }: { call: CallView }) {
  const hangUp = useApp((s) => s.hangUp);
  return (
    <main className="call-screen outgoing" aria-label="Outgoing call">
      <p className="call-state">{call.state === 'ringing' ? 'Ringing…' : 'Calling…'}</p>
      <Who call={call} />
      <div className="call-buttons">
        <button type="button" className="hangup" onClick={() => void hangUp()}>
          Hang up
        </button>
      </div>
    </main>
  );
}

export function IncomingCall({ call }: { call: CallView }) {
  const answer = useApp((s) => s.answer);
  const decline = useApp((s) => s.decline);
  return (
    <main className="call-screen incoming" aria-label="Incoming call">
      <p className="call-state">Incoming call</p>
      <Who call={call} />
      <div className="call-buttons">
        <button type="button" className="answer" onClick={() => void answer()}>
          Answer
        </button>
        <button type="button" className="hangup" onClick={() => void decline()}>
          Decline
        </button>
      </div>
      <p className="hint">Ctrl+Shift+A answers, Ctrl+Shift+D declines.</p>
    </main>
  );
}

export function InCall({ call, micDb }: { call: CallView; micDb: number }) {
  const hangUp = useApp((s) => s.hangUp);
  const toggleMute = useApp((s) => s.toggleMute);
  const now = useNow(500);
  const elapsed = call.connectedAt ? (now - call.connectedAt) / 1000 : 0;
  const q = qualityOf(call.stats);
  const path = call.path === 'direct' ? 'Direct' : call.path === 'relay' ? 'Relay' : 'Connecting';
  return (
    <main className="call-screen in-call" aria-label="In call">
      <Who call={call} />
      <p className="timer" aria-label="call duration">
        {formatDuration(elapsed)}
      </p>
      <p className="path" aria-label="media path">
        {path === 'Direct'
          ? 'Direct (peer-to-peer)'
          : path === 'Relay'
            ? 'Relay (through the relay server)'
            : path}
      </p>
      <p
        className={`quality ${q}`}
        title={qualityTitle(call.stats)}
        aria-label={`quality ${q}: ${qualityTitle(call.stats)}`}
      >
        Quality: {q}
      </p>
      {call.sas && (
        <p className="sas">
          Read aloud and compare: <strong>{call.sas}</strong>
        </p>
      )}
      <meter
        className="mic-level"
        aria-label="microphone level"
        min={-60}
        max={0}
        value={Math.max(-60, micDb)}
      />
      <div className="call-buttons">
        <button type="button" aria-pressed={call.muted} onClick={() => void toggleMute()}>
          {call.muted ? 'Unmute' : 'Mute'}
        </button>
        <button type="button" className="hangup" onClick={() => void hangUp()}>
          Hang up
        </button>
      </div>
      <p className="hint">Ctrl+Shift+M mutes, Ctrl+Shift+H hangs up.</p>
    </main>
  );
}
