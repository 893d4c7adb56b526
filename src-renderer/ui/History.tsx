// Call history, newest first: who, which way, the outcome in plain words, when; each row offers
// Call back (for contacts) and Add contact (for people not in your contacts).
import { shortFingerprint, type Fingerprint } from '../../src-shared/fingerprint.ts';
import type { HistoryEntry } from '../../src-shared/ipc-contract.ts';
import { formatDuration, formatWhen, outcomeLabel } from '../state/derive.ts';
import { Avatar } from './Avatar.tsx';
import { useNow } from './hooks.ts';
import { ArrowDownLeft, ArrowUpRight, Phone, PhoneMissed, UserPlus } from './icons.ts';
import { useApp } from './store-context.ts';

export function History() {
  const history = useApp((s) => s.snapshot?.history ?? []);
  const clear = useApp((s) => s.clearHistory);
  return (
    <section aria-label="Call history" className="history">
      {history.length === 0 ? (
        <p className="empty">No calls yet.</p>
      ) : (
        <>
          <ul className="history-list">
            {history.map((h) => (
              <HistoryRow key={`${h.id}-${h.startedAt}`} h={h} />
            ))}
          </ul>
          <div className="list-tools end">
            <button type="button" onClick={() => void clear()}>
              Clear history
            </button>
          </div>
        </>
      )}
    </section>
  );
}

function HistoryRow({ h }: { h: HistoryEntry }) {
  const now = useNow(30_000);
  const contact = useApp((s) =>
    s.snapshot?.contacts.find((c) => c.id === h.contactId || c.fingerprint === h.peer),
  );
  const call = useApp((s) => s.call);
  const openAdd = useApp((s) => s.setAddContactOpen);
  const relayUp = useApp((s) => s.snapshot?.relay.state === 'registered');
  const name = contact?.name ?? h.name ?? null;
  const shown = name ?? shortFingerprint(h.peer as Fingerprint);
  const missed = h.outcome === 'missed';
  const Icon = missed ? PhoneMissed : h.direction === 'outgoing' ? ArrowUpRight : ArrowDownLeft;
  const label = outcomeLabel(h);
  return (
    <li
      className={`history-entry ${h.outcome}`}
      aria-label={`${shown}: ${label}`}
      title={h.path ? `Path: ${h.path === 'direct' ? 'direct' : 'relay'}` : undefined}
    >
      <Avatar name={name} fingerprint={h.peer} />
      <span className="row-text">
        <span className="contact-name">
          {shown}
          {!contact && <span className="tag">not in your contacts</span>}
        </span>
        <span className={`status${missed ? ' missed' : ''}`}>
          <Icon size={14} aria-label={h.direction} />
          <span className="outcome">{label}</span>
          {h.outcome === 'answered' && <span> · {formatDuration(h.durationS)}</span>}
          <span className="when"> · {formatWhen(h.startedAt, now)}</span>
        </span>
      </span>
      {contact ? (
        <button
          type="button"
          className="round call"
          aria-label={`Call back ${contact.name}`}
          title={contact.online ? `Call back ${contact.name}` : `${contact.name} is offline`}
          disabled={!relayUp || !contact.online}
          onClick={() => void call(contact.id)}
        >
          <Phone size={18} aria-hidden="true" />
        </button>
      ) : (
        <button
          type="button"
          className="round"
          aria-label={`Add ${name ?? 'this caller'} to contacts`}
          title="Add contact"
          onClick={() => openAdd(true, { fingerprint: h.peer, name: h.name ?? '' })}
        >
          <UserPlus size={18} aria-hidden="true" />
        </button>
      )}
    </li>
  );
}
