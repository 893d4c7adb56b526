// The contact list (search, avatar, presence, verified mark, a "Call NAME" button per contact,
// disabled while they are offline) and the contact's detail pane: a large avatar, the safety
// code (their fingerprint, shown here where it matters), rename, remove, and the loud warning
// when their key changed.
import { useState } from 'react';
import { shortFingerprint, type Fingerprint } from '../../src-shared/fingerprint.ts';
import type { ContactView } from '../../src-shared/ipc-contract.ts';
import { formatWhen, searchContacts } from '../state/derive.ts';
import { Avatar } from './Avatar.tsx';
import { FingerprintText } from './FingerprintText.tsx';
import { useNow } from './hooks.ts';
import {
  ArrowLeft,
  BadgeCheck,
  Phone,
  Search,
  ShieldAlert,
  TriangleAlert,
  UserPlus,
} from './icons.ts';
import { useApp } from './store-context.ts';

export function ContactList() {
  const contacts = useApp((s) => s.snapshot?.contacts ?? []);
  const openAdd = useApp((s) => s.setAddContactOpen);
  const [query, setQuery] = useState('');
  const shown = searchContacts(contacts, query);
  return (
    <section aria-label="Contacts" className="contacts">
      <div className="list-tools">
        <label className="search">
          <Search size={16} aria-hidden="true" />
          <input
            type="search"
            placeholder="Search"
            aria-label="Search contacts"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
        </label>
        <button type="button" className="with-icon" onClick={() => openAdd(true)}>
          <UserPlus size={18} aria-hidden="true" />
          <span>Add contact</span>
        </button>
      </div>
      {contacts.length === 0 ? (
        <p className="empty">No contacts yet. Add someone with their fingerprint or QR code.</p>
      ) : shown.length === 0 ? (
        <p className="empty">No contact matches "{query}".</p>
      ) : (
        <ul className="contact-list">
          {shown.map((c) => (
            <ContactRow key={c.id} c={c} />
          ))}
        </ul>
      )}
    </section>
  );
}

export function CallButton({ c, large = false }: { c: ContactView; large?: boolean }) {
  const call = useApp((s) => s.call);
  const relayUp = useApp((s) => s.snapshot?.relay.state === 'registered');
  const [error, setError] = useState<string | null>(null);
  const why = !relayUp ? 'Not connected to the relay' : !c.online ? `${c.name} is offline` : null;
  return (
    <>
      <button
        type="button"
        className={large ? 'call-action with-icon' : 'round call'}
        aria-label={`Call ${c.name}`}
        title={why ?? `Call ${c.name}`}
        disabled={why !== null}
        onClick={(e) => {
          e.stopPropagation();
          void call(c.id).then((r) => setError(r.ok ? null : r.message));
        }}
      >
        <Phone size={large ? 18 : 18} aria-hidden="true" />
        {large && <span>Call</span>}
      </button>
      {error && (
        <span role="alert" className="error">
          {error}
        </span>
      )}
    </>
  );
}

function ContactRow({ c }: { c: ContactView }) {
  const select = useApp((s) => s.selectContact);
  const selected = useApp((s) => s.selectedContactId === c.id);
  const now = useNow(30_000);
  const status = c.online ? 'Online' : 'Offline';
  const last = c.lastCallAt ? ` · last call ${formatWhen(c.lastCallAt, now)}` : '';
  return (
    <li
      className={`contact${selected ? ' selected' : ''}${c.keyChange ? ' key-changed' : ''}`}
      aria-label={`Contact ${c.name}`}
    >
      <button
        type="button"
        className="row-main"
        aria-label={`${c.name}, ${status}${c.verified ? ', verified' : ''}${c.keyChange ? ', key changed' : ''}`}
        onClick={() => select(c.id)}
      >
        <span className="avatar-wrap">
          <Avatar name={c.name} fingerprint={c.fingerprint} />
          <span className={`presence ${c.online ? 'online' : 'offline'}`} aria-hidden="true" />
        </span>
        <span className="row-text">
          <span className="contact-name">
            {c.name}
            {c.verified && !c.keyChange && (
              <BadgeCheck size={15} className="verified-icon" aria-hidden="true" />
            )}
            {c.keyChange && <TriangleAlert size={15} className="warn-icon" aria-hidden="true" />}
          </span>
          <span className="status">
            {c.keyChange ? 'Key changed: verify before calling' : `${status}${last}`}
          </span>
        </span>
      </button>
      {c.verified && <span className="sr-only">✓ Verified</span>}
      <CallButton c={c} />
    </li>
  );
}

export function ContactDetail({ id }: { id: string }) {
  const c = useApp((s) => s.snapshot?.contacts.find((x) => x.id === id));
  const select = useApp((s) => s.selectContact);
  const rename = useApp((s) => s.renameContact);
  const remove = useApp((s) => s.removeContact);
  const ack = useApp((s) => s.acknowledgeKeyChange);
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(c?.name ?? '');
  const [confirmRemove, setConfirmRemove] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!c) return null;
  async function run(p: Promise<{ ok: boolean; message?: string }>) {
    const r = await p;
    setError(r.ok ? null : (r.message ?? 'failed'));
    return r.ok;
  }
  return (
    <div className="contact-detail">
      <button type="button" className="back with-icon" onClick={() => select(null)}>
        <ArrowLeft size={18} aria-hidden="true" />
        <span>Back to contacts</span>
      </button>
      <div className="hero">
        <Avatar name={c.name} fingerprint={c.fingerprint} size={96} />
        {editing ? (
          <form
            className="rename"
            onSubmit={(e) => {
              e.preventDefault();
              void run(rename(c.id, name.trim())).then((ok) => ok && setEditing(false));
            }}
          >
            <input
              aria-label="New name"
              value={name}
              maxLength={64}
              onChange={(e) => setName(e.target.value)}
              autoFocus
            />
            <button type="submit">Save</button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <h1>{c.name}</h1>
        )}
        <p className="status">{c.online ? 'Online' : 'Offline'}</p>
        <CallButton c={c} large />
      </div>
      {c.keyChange && (
        <div role="alert" className="danger">
          <ShieldAlert size={20} aria-hidden="true" />
          <div>
            <strong>{c.name}'s key has changed.</strong> The old key{' '}
            {shortFingerprint(c.keyChange.previousFingerprint as Fingerprint)}… was replaced. Anyone
            could be behind a new key: confirm it with {c.name} in person or by their QR code before
            you trust it.
            <button type="button" onClick={() => void run(ack(c.id))}>
              I have verified the new key
            </button>
          </div>
        </div>
      )}
      <section className="card" aria-label="Safety code">
        <h2>Safety code</h2>
        <p className="hint">
          {c.verified
            ? `Verified: you confirmed this code with ${c.name} (by their QR code or by comparing it).`
            : `Not verified yet. Compare this code with the one ${c.name}'s app shows for you, or scan their QR code.`}
        </p>
        <FingerprintText fp={c.fingerprint} label={`fingerprint of ${c.name}`} />
      </section>
      <div className="row">
        <button type="button" aria-label={`Rename ${c.name}`} onClick={() => setEditing(true)}>
          Rename
        </button>
        {confirmRemove ? (
          <>
            <button type="button" className="danger-button" onClick={() => void run(remove(c.id))}>
              Confirm remove
            </button>
            <button type="button" onClick={() => setConfirmRemove(false)}>
              Keep
            </button>
          </>
        ) : (
          <button
            type="button"
            aria-label={`Remove ${c.name}`}
            onClick={() => setConfirmRemove(true)}
          >
            Remove
          </button>
        )}
      </div>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
