// The relay's state in words a person can act on: registered, connecting, the reason it cannot
// connect and that it keeps trying, or a changed relay key explained in one sentence with the
// fingerprints on request.
import { useState } from 'react';
import { useNow } from './hooks.ts';
import { WifiOff } from './icons.ts';
import { useApp } from './store-context.ts';

const WORDS: Record<string, string> = {
  unconfigured: 'No relay',
  connecting: 'Connecting…',
  registered: 'Online',
  reconnecting: 'Reconnecting…',
  failed: 'Offline',
  stopped: 'Offline',
};

/** A changed relay key, from the engine's message ("... is X, expected Y: possible interception"). */
export function relayKeyProblem(
  detail: string | null,
): { actual: string; expected: string } | null {
  const m = /is (wzp1[0-9a-z]+), expected (wzp1[0-9a-z]+)/.exec(detail ?? '');
  return m ? { actual: m[1] as string, expected: m[2] as string } : null;
}

export function RelayStatus({ compact = false }: { compact?: boolean }) {
  const relay = useApp((s) => s.snapshot?.relay);
  const address = useApp((s) => s.snapshot?.settings.relay?.address ?? null);
  const [showKeys, setShowKeys] = useState(false);
  const now = useNow(1000);
  const state = relay?.state ?? 'connecting';
  const retryAt = relay?.retryAt ?? null;
  const detail = relay?.detail ?? null;
  const keyProblem = relayKeyProblem(detail);
  if (compact) {
    return (
      <span
        className={`relay-pill ${state}`}
        role="status"
        title={detail ?? (address ? `Relay ${address}` : '')}
      >
        {state !== 'registered' && <WifiOff size={14} aria-hidden="true" />}
        <span>{keyProblem ? 'Relay key changed' : (WORDS[state] ?? state)}</span>
      </span>
    );
  }
  return (
    <div className={`relay-status ${state}`} role="status">
      <p>
        <strong>{WORDS[state] ?? state}</strong>
        {address ? ` · relay ${address}` : ''}
      </p>
      {keyProblem ? (
        <div className="danger">
          <p>
            The relay at {address} answered with a different key than the one this app trusts.
            Someone may be intercepting your connection, or the relay was reinstalled: ask its
            operator for its current fingerprint before you set it below. Until then no calls go
            through it.
          </p>
          <button type="button" onClick={() => setShowKeys((v) => !v)} aria-expanded={showKeys}>
            {showKeys ? 'Hide fingerprints' : 'Show fingerprints'}
          </button>
          {showKeys && (
            <dl className="keys">
              <dt>Trusted</dt>
              <dd>
                <code>{keyProblem.expected}</code>
              </dd>
              <dt>Answered</dt>
              <dd>
                <code>{keyProblem.actual}</code>
              </dd>
            </dl>
          )}
        </div>
      ) : (
        detail &&
        state !== 'registered' && (
          <p className="hint">
            {capitalise(detail)}.{' '}
            {retryAt !== null
              ? `Trying again in ${Math.max(0, Math.ceil((retryAt - now) / 1000))} s.`
              : state === 'reconnecting'
                ? 'Trying again shortly.'
                : ''}
          </p>
        )
      )}
    </div>
  );
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
