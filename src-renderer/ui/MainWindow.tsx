// The main window, in the spirit of Signal Desktop: a sidebar (me, the relay's state, the tabs,
// the contact list or the history) and a detail pane (the chosen contact, or the settings).
// Below 720 px wide it is one column: the list, or the detail with a way back.
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { missedSince } from '../state/derive.ts';
import type { View } from '../state/app-store.ts';
import { AddContactDialog } from './AddContactDialog.tsx';
import { Avatar } from './Avatar.tsx';
import { ContactDetail, ContactList } from './Contacts.tsx';
import { History } from './History.tsx';
import { HistoryIcon, SettingsIcon, Users } from './icons.ts';
import { QrDialog } from './QrDialog.tsx';
import { RelayStatus } from './RelayStatus.tsx';
import { Settings } from './Settings.tsx';
import { useApp } from './store-context.ts';

export function MainWindow() {
  const view = useApp((s) => s.view);
  const identity = useApp((s) => s.snapshot?.identity);
  const selected = useApp((s) =>
    s.snapshot?.contacts.find((c) => c.id === s.selectedContactId) ? s.selectedContactId : null,
  );
  const qrOpen = useApp((s) => s.qrOpen);
  const addOpen = useApp((s) => s.addContactOpen);
  const showDetail = view === 'settings' || selected !== null;
  return (
    <div
      className={`shell${showDetail ? ' show-detail' : ''}${view === 'settings' ? ' view-settings' : ''}`}
    >
      <aside className="sidebar">
        <TopBar />
        <Tabs />
        <div className="pane">
          {view === 'contacts' && <ContactList />}
          {view === 'history' && <History />}
          {view === 'settings' && <MeCard />}
        </div>
      </aside>
      <section className="detail" aria-label={view === 'settings' ? 'Settings' : 'Contact details'}>
        {view === 'settings' ? (
          <Settings />
        ) : selected ? (
          <ContactDetail id={selected} />
        ) : (
          <div className="placeholder">
            <Users size={48} aria-hidden="true" />
            <p>Choose a contact to see their details, or call them from the list.</p>
          </div>
        )}
      </section>
      {qrOpen && identity && <QrDialog fingerprint={identity.fingerprint as Fingerprint} />}
      {addOpen && <AddContactDialog />}
    </div>
  );
}

function TopBar() {
  const identity = useApp((s) => s.snapshot?.identity);
  const name = useApp((s) => s.snapshot?.settings.displayName ?? null);
  const setQrOpen = useApp((s) => s.setQrOpen);
  return (
    <header className="topbar">
      {identity && (
        <button
          type="button"
          className="me"
          aria-label="My QR code and fingerprint"
          title="My QR code and fingerprint"
          onClick={() => setQrOpen(true)}
        >
          <Avatar name={name ?? 'Me'} fingerprint={identity.fingerprint} size={32} />
        </button>
      )}
      <span className="brand">wz-phone</span>
      <RelayStatus compact />
    </header>
  );
}

function Tabs() {
  const view = useApp((s) => s.view);
  const setView = useApp((s) => s.setView);
  const selectContact = useApp((s) => s.selectContact);
  const missed = useApp((s) => missedSince(s.snapshot?.history ?? [], s.historySeenAt));
  const tabs: Array<[View, string, typeof Users]> = [
    ['contacts', 'Contacts', Users],
    ['history', 'History', HistoryIcon],
    ['settings', 'Settings', SettingsIcon],
  ];
  return (
    <nav className="tabs" aria-label="Main">
      {tabs.map(([id, label, Icon]) => {
        const badge = id === 'history' && missed > 0 && view !== 'history' ? missed : 0;
        return (
          <button
            key={id}
            type="button"
            aria-current={view === id ? 'page' : undefined}
            aria-label={badge ? `${label}, ${badge} missed` : label}
            onClick={() => {
              selectContact(null);
              setView(id);
            }}
          >
            <Icon size={18} aria-hidden="true" />
            <span>{label}</span>
            {badge > 0 && (
              <span className="badge" aria-hidden="true">
                {badge}
              </span>
            )}
          </button>
        );
      })}
    </nav>
  );
}

function MeCard() {
  const identity = useApp((s) => s.snapshot?.identity);
  const name = useApp((s) => s.snapshot?.settings.displayName ?? null);
  const setQrOpen = useApp((s) => s.setQrOpen);
  if (!identity) return null;
  return (
    <div className="me-card">
      <Avatar name={name ?? 'Me'} fingerprint={identity.fingerprint} size={64} />
      <p className="me-name">{name ?? 'No name set'}</p>
      <p className="hint">This is how people you call see you.</p>
      <button type="button" onClick={() => setQrOpen(true)}>
        Show my QR code
      </button>
    </div>
  );
}
