// Add a contact: a name and a fingerprint, pasted as text (every typo rejected with a reason) or
// read from a QR image file (which marks the contact verified). If the name already belongs to
// a contact with another key, the user can replace the key, loudly.
import { useRef, useState, type FormEvent } from 'react';
import { describeFingerprintError, parseFingerprint } from '../../src-shared/fingerprint.ts';
import { readQrFromFile } from '../qr/qr.ts';
import { Dialog } from './Dialog.tsx';
import { FingerprintText } from './FingerprintText.tsx';
import { useApp } from './store-context.ts';

export function AddContactDialog() {
  const addContact = useApp((s) => s.addContact);
  const replaceKey = useApp((s) => s.replaceContactKey);
  const contacts = useApp((s) => s.snapshot?.contacts ?? []);
  const close = useApp((s) => s.setAddContactOpen);
  const prefill = useApp((s) => s.addContactPrefill);
  const [name, setName] = useState(prefill?.name ?? '');
  const [text, setText] = useState(prefill?.fingerprint ?? '');
  const [source, setSource] = useState<'typed' | 'qr'>('typed');
  const [error, setError] = useState<string | null>(null);
  const [keyClashId, setKeyClashId] = useState<string | null>(null);
  const fileRef = useRef<HTMLInputElement>(null);

  const parsed = text.trim() ? parseFingerprint(text) : null;
  const hint = parsed && !parsed.ok ? describeFingerprintError(parsed.error) : null;

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setKeyClashId(null);
    const fp = parseFingerprint(text);
    if (!fp.ok) {
      setError(`Fingerprint: ${describeFingerprintError(fp.error)}`);
      return;
    }
    const r = await addContact(name.trim(), fp.value, source);
    if (r.ok) return;
    setError(r.message);
    if (r.code === 'key-changed') {
      const clash = contacts.find((c) => c.name.toLowerCase() === name.trim().toLowerCase());
      setKeyClashId(clash?.id ?? null);
    }
  }

  async function onReplace() {
    const fp = parseFingerprint(text);
    if (!keyClashId || !fp.ok) return;
    const r = await replaceKey(keyClashId, fp.value, source);
    if (r.ok) close(false);
    else setError(r.message);
  }

  async function onFile(file: File | undefined) {
    if (!file) return;
    const r = await readQrFromFile(file);
    if (!r.ok) {
      setError(r.message);
      return;
    }
    setText(r.fingerprint);
    setSource('qr');
    setError(null);
  }

  return (
    <Dialog title="Add a contact" onClose={() => close(false)}>
      <form onSubmit={(e) => void onSubmit(e)}>
        <label>
          Name
          <input
            name="contact-name"
            value={name}
            maxLength={64}
            onChange={(e) => setName(e.target.value)}
            required
            autoFocus
          />
        </label>
        <label>
          Their fingerprint
          <textarea
            name="contact-fingerprint"
            rows={3}
            placeholder="Paste it: wzp1 …"
            value={text}
            onChange={(e) => {
              setText(e.target.value);
              setSource('typed');
              setError(null);
            }}
            aria-invalid={hint !== null}
            aria-describedby="fp-hint"
          />
        </label>
        <p id="fp-hint" className={hint ? 'error' : 'hint'}>
          {hint ??
            (parsed?.ok
              ? source === 'qr'
                ? 'Read from their QR code: this contact will be marked verified.'
                : 'Fingerprint looks right.'
              : 'Paste the text form, or read their QR code from an image.')}
        </p>
        {parsed?.ok && <FingerprintText fp={parsed.value} label="fingerprint to add" />}
        <div className="row">
          <button type="button" onClick={() => fileRef.current?.click()}>
            Read QR image…
          </button>
          <input
            ref={fileRef}
            type="file"
            accept="image/*"
            hidden
            aria-label="QR code image"
            onChange={(e) => void onFile(e.target.files?.[0])}
          />
        </div>
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        {keyClashId && (
          <div role="alert" className="danger">
            <strong>Warning: this is a different key.</strong> Only replace it if you have confirmed
            with the person that their identity changed.
            <button type="button" className="danger-button" onClick={() => void onReplace()}>
              Replace key
            </button>
          </div>
        )}
        <div className="row end">
          <button type="button" onClick={() => close(false)}>
            Cancel
          </button>
          <button type="submit" disabled={!name.trim() || !parsed?.ok}>
            Save contact
          </button>
        </div>
      </form>
    </Dialog>
  );
}
