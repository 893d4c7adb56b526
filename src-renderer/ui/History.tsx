// Call history, newest first.
import { shortFingerprint, type Fingerprint } from '../../src-shared/fingerprint.ts';
import { formatDuration, formatWhen } from '../state/derive.ts';
import { useNow } from './hooks.ts';
import { useApp } from './store-context.ts';

const OUTCOME: Record<string, string> = {
  answered: 'Answered',
  missed: 'Missed',
  declined: 'Declined',
  cancelled: 'Cancelled',
  failed: 'Failed',
};

export function History() {
  const history = useApp((s) => s.snapshot?.history ?? []);
  const clear = useApp((s) => s.clearHistory);
  const now = useNow(30_000);
  return (
    <section aria-label="Call history" className="history">
      {history.length === 0 ? (
        <p className="empty">No calls yet.</p>
      ) : (
        <>
          <ul>
            {history.map((h) => (
              <li key={`${h.id}-${h.startedAt}`} className={`history-entry ${h.outcome}`}>
                <span aria-label={h.direction}>{h.direction === 'outgoing' ? '↗' : '↙'}</span>
                <span className="name">{h.name ?? shortFingerprint(h.peer as Fingerprint)}</span>
                <span className="outcome">{OUTCOME[h.outcome] ?? h.outcome}</span>
                {h.outcome === 'answered' && <span>{formatDuration(h.durationS)}</span>}
                {h.path && <span className="path">{h.path === 'direct' ? 'Direct' : 'Relay'}</span>}
                <span className="when">{formatWhen(h.startedAt, now)}</span>
              </li>
            ))}
          </ul>
          <button type="button" onClick={() => void clear()}>
            Clear history
          </button>
        </>
      )}
    </section>
  );
}
