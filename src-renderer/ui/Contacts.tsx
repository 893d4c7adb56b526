// The contact list: search, online state, verified mark, last call, key-change warnings, and a
// Call button per contact; rename and remove inline.
import { useState } from 'react';
import { shortFingerprint, type Fingerprint } from '../../src-shared/fingerprint.ts';
import type { ContactView } from '../../src-shared/ipc-contract.ts';
import { formatWhen, searchContacts } from '../state/derive.ts';
import { FingerprintText } from './FingerprintText.tsx';
import { useNow } from './hooks.ts';
import { useApp } from './store-context.ts';

export function Contacts() {
  const contacts = useApp((s) => s.snapshot?.contacts ?? []);
  const openAdd = useApp((s) => s.setAddContactOpen);
  const [query, setQuery] = useState('');
  const shown = searchContacts(contacts, query);
  return (
    <section aria-label="Contacts" className="contacts">
      <div className="row">
        <input
          type="search"
          placeholder="Search contacts"
          aria-label="Search contacts"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
        />
        <button type="button" onClick={() => openAdd(true)}>
          Add contact
        </button>
      </div>
      {contacts.length === 0 ? (
        <p className="empty">No contacts yet. Add one with their fingerprint or QR code.</p>
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

function ContactRow({ c }: { c: ContactView }) {
  const call = useApp((s) => s.call);
  const rename = useApp((s) => s.renameContact);
  const remove = useApp((s) => s.removeContact);
  const ack = useApp((s) => s.acknowledgeKeyChange);
  const relayUp = useApp((s) => s.snapshot?.relay.state === 'registered');
  const now = useNow(30_000);
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(c.name);
  const [error, setError] = useState<string | null>(null);
  const [confirmRemove, setConfirmRemove] = useState(false);

  async function run(p: Promise<{ ok: boolean; message?: string }>) {
    const r = await p;
    setError(r.ok ? null : (r.message ?? 'failed'));
    return r.ok;
  }

  return (
    <li className={`contact${c.keyChange ? ' key-changed' : ''}`} aria-label={`Contact ${c.name}`}>
      <div className="contact-main">
        <span className={`presence ${c.online ? 'online' : 'offline'}`} aria-hidden="true" />
        {editing ? (
          <form
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
          <span className="contact-name">{c.name}</span>
        )}
        {c.verified && (
          <span className="verified" title="Added by scanning their QR code">
            ✓ Verified
          </span>
        )}
        <span className="status">{c.online ? 'Online' : 'Offline'}</span>
        <span className="last-call">
          {c.lastCallAt ? `Last call ${formatWhen(c.lastCallAt, now)}` : 'No calls yet'}
        </span>
        <span className="actions">
          <button type="button" onClick={() => void run(call(c.id))} disabled={!relayUp}>
            Call
          </button>
          <button type="button" aria-label={`Rename ${c.name}`} onClick={() => setEditing(true)}>
            Rename
          </button>
          {confirmRemove ? (
            <>
              <button
                type="button"
                className="danger-button"
                onClick={() => void run(remove(c.id))}
              >
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
        </span>
      </div>
      <div className="contact-fp" title={c.fingerprint}>
        <FingerprintText fp={c.fingerprint} label={`fingerprint of ${c.name}`} />
      </div>
      {c.keyChange && (
        <div role="alert" className="danger">
          <strong>⚠ {c.name}'s key has changed.</strong> Old key{' '}
          {shortFingerprint(c.keyChange.previousFingerprint as Fingerprint)}… was replaced. Anyone
          could be behind a new key: confirm it with {c.name} in person or by QR code.
          <button type="button" onClick={() => void run(ack(c.id))}>
            I have verified the new key
          </button>
        </div>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </li>
  );
}
