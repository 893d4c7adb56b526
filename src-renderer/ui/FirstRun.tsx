// First run: the name people you call will see, then your identity (made on this computer) with
// its fingerprint and QR code to give to people, and the relay: the built-in one on this
// computer when the host runs it, or one you enter (its address and pinned fingerprint).
import { useEffect, useState, type FormEvent } from 'react';
import {
  describeFingerprintError,
  parseFingerprint,
  type Fingerprint,
} from '../../src-shared/fingerprint.ts';
import { fingerprintQrDataUrl } from '../qr/qr.ts';
import { Avatar } from './Avatar.tsx';
import { FingerprintText } from './FingerprintText.tsx';
import { useApp } from './store-context.ts';

export function FirstRun() {
  const identity = useApp((s) => s.snapshot?.identity ?? null);
  return (
    <main className="first-run" aria-label="Welcome">
      {identity ? <Ready fingerprint={identity.fingerprint as Fingerprint} /> : <Welcome />}
    </main>
  );
}

function Welcome() {
  const createIdentity = useApp((s) => s.createIdentity);
  const setDisplayName = useApp((s) => s.setDisplayName);
  const saved = useApp((s) => s.snapshot?.settings.displayName ?? '');
  const [name, setName] = useState(saved);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onCreate(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const n = await setDisplayName(name);
    const r = n.ok ? await createIdentity() : n;
    setBusy(false);
    if (!r.ok) setError(r.message);
  }

  return (
    <form className="card welcome" onSubmit={(e) => void onCreate(e)}>
      <h1>Welcome to wz-phone</h1>
      <p>
        Private voice calls that go straight from your computer to the other person's whenever the
        network allows, encrypted end to end.
      </p>
      <label>
        Your name
        <input
          name="display-name"
          value={name}
          maxLength={64}
          onChange={(e) => setName(e.target.value)}
          placeholder="e.g. Alice"
          autoFocus
          aria-describedby="name-hint"
        />
      </label>
      <p id="name-hint" className="hint">
        Shown to the people you call. You can change it later in Settings.
      </p>
      <p className="hint">
        Next, the app makes your identity: a key that never leaves this computer. People add you by
        its fingerprint.
      </p>
      <button type="submit" className="primary" disabled={busy}>
        Create my identity
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}

function Ready({ fingerprint }: { fingerprint: Fingerprint }) {
  const relay = useApp((s) => s.snapshot?.settings.relay ?? null);
  const relayState = useApp((s) => s.snapshot?.relay.state);
  const name = useApp((s) => s.snapshot?.settings.displayName ?? null);
  const host = useApp((s) => s.host);
  const finish = useApp((s) => s.finishOnboarding);
  const [qr, setQr] = useState<string | null>(null);
  const [ownRelay, setOwnRelay] = useState(relay === null);
  const builtIn = relay !== null && /^(127\.|localhost|\[::1\])/.test(relay.address);

  useEffect(() => {
    let live = true;
    void fingerprintQrDataUrl(fingerprint).then((u) => live && setQr(u));
    return () => {
      live = false;
    };
  }, [fingerprint]);

  function onContinue() {
    // The web host can only tell about calls in a background tab with a notification.
    if (
      host === 'web' &&
      typeof Notification !== 'undefined' &&
      Notification.permission === 'default'
    ) {
      void Notification.requestPermission().catch(() => {});
    }
    finish();
  }

  return (
    <div className="card ready">
      <h1>You're ready{name ? `, ${name}` : ''}</h1>
      <div className="identity">
        <Avatar name={name ?? 'Me'} fingerprint={fingerprint} size={64} />
        <div>
          <p>People add you with this fingerprint, or by scanning your QR code:</p>
          <FingerprintText fp={fingerprint} label="my fingerprint" />
        </div>
      </div>
      {qr && (
        <img className="qr" src={qr} alt="QR code of my fingerprint" width={200} height={200} />
      )}
      <section aria-labelledby="relay-step">
        <h2 id="relay-step">Relay</h2>
        {relay && !ownRelay ? (
          <>
            <p>
              {builtIn
                ? `Using the relay built into this app, on this computer (${relay.address}). It is enough for calls on this computer; to call other computers, set a shared relay.`
                : `Using the relay at ${relay.address}.`}{' '}
              <span className="hint">Status: {relayState}</span>
            </p>
            <button type="button" onClick={() => setOwnRelay(true)}>
              Use another relay…
            </button>
          </>
        ) : (
          <RelayForm />
        )}
      </section>
      {relay && (
        <button type="button" className="primary" onClick={onContinue}>
          Continue
        </button>
      )}
    </div>
  );
}

export function RelayForm({ onSaved }: { onSaved?: () => void }) {
  const configureRelay = useApp((s) => s.configureRelay);
  const relay = useApp((s) => s.snapshot?.settings.relay ?? null);
  const [address, setAddress] = useState(relay?.address ?? '');
  const [relayFp, setRelayFp] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function onRelay(e: FormEvent) {
    e.preventDefault();
    const fp = parseFingerprint(relayFp);
    if (!fp.ok) {
      setError(`Relay fingerprint: ${describeFingerprintError(fp.error)}`);
      return;
    }
    setBusy(true);
    setError(null);
    const r = await configureRelay(address.trim(), fp.value);
    setBusy(false);
    if (!r.ok) setError(r.message);
    else onSaved?.();
  }
  return (
    <form onSubmit={(e) => void onRelay(e)}>
      <p className="hint">
        The relay carries call set-up (and calls, when no direct path exists). Ask its operator for
        its address and fingerprint: the app will refuse any other relay at that address.
      </p>
      <label>
        Relay address
        <input
          name="relay-address"
          placeholder="relay.example.org:4433"
          value={address}
          onChange={(e) => setAddress(e.target.value)}
          required
        />
      </label>
      <label>
        Relay fingerprint
        <textarea
          name="relay-fingerprint"
          placeholder="wzp1 …"
          rows={2}
          value={relayFp}
          onChange={(e) => setRelayFp(e.target.value)}
          required
        />
      </label>
      <button type="submit" disabled={busy}>
        Connect to relay
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}
