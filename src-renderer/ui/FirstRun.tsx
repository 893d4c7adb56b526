// First run: create my identity, then choose a relay and pin its fingerprint.
import { useState, type FormEvent } from 'react';
import { describeFingerprintError, parseFingerprint } from '../../src-shared/fingerprint.ts';
import { useApp } from './store-context.ts';
import { FingerprintText } from './FingerprintText.tsx';

export function FirstRun() {
  const identity = useApp((s) => s.snapshot?.identity ?? null);
  const relay = useApp((s) => s.snapshot?.settings.relay ?? null);
  const createIdentity = useApp((s) => s.createIdentity);
  const configureRelay = useApp((s) => s.configureRelay);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [address, setAddress] = useState(relay?.address ?? '');
  const [relayFp, setRelayFp] = useState('');

  async function onCreate() {
    setBusy(true);
    setError(null);
    const r = await createIdentity();
    setBusy(false);
    if (!r.ok) setError(r.message);
  }

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
  }

  return (
    <main className="first-run">
      <h1>Welcome to wz-phone</h1>
      <section aria-labelledby="step-identity">
        <h2 id="step-identity">1. Your identity</h2>
        {identity ? (
          <div>
            <p>Your identity is ready. People add you with this fingerprint:</p>
            <FingerprintText fp={identity.fingerprint} label="my fingerprint" />
          </div>
        ) : (
          <div>
            <p>
              An identity is a key made on this computer. It never leaves it; others know you by its
              fingerprint.
            </p>
            <button type="button" onClick={() => void onCreate()} disabled={busy}>
              Create my identity
            </button>
          </div>
        )}
      </section>
      <section aria-labelledby="step-relay" className={identity ? '' : 'disabled'}>
        <h2 id="step-relay">2. Your relay</h2>
        <p>
          The relay carries call set-up (and calls, when no direct path exists). Ask its operator
          for its address and fingerprint: the app will refuse any other relay at that address.
        </p>
        <form onSubmit={(e) => void onRelay(e)}>
          <label>
            Relay address
            <input
              name="relay-address"
              placeholder="relay.example.org:4433"
              value={address}
              onChange={(e) => setAddress(e.target.value)}
              disabled={!identity}
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
              disabled={!identity}
              required
            />
          </label>
          <button type="submit" disabled={!identity || busy}>
            Connect to relay
          </button>
        </form>
      </section>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </main>
  );
}
