// My identity as a QR code, with the grouped text fingerprint under it.
import { useEffect, useState } from 'react';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { fingerprintQrDataUrl } from '../qr/qr.ts';
import { Dialog } from './Dialog.tsx';
import { FingerprintText } from './FingerprintText.tsx';
import { Copy } from './icons.ts';
import { useApp } from './store-context.ts';

export function QrDialog({ fingerprint }: { fingerprint: Fingerprint }) {
  const close = useApp((s) => s.setQrOpen);
  const [url, setUrl] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    let live = true;
    void fingerprintQrDataUrl(fingerprint).then((u) => live && setUrl(u));
    return () => {
      live = false;
    };
  }, [fingerprint]);
  return (
    <Dialog title="My QR code" onClose={() => close(false)} className="qr">
      <p>Let a contact scan this, or send them the text below.</p>
      {url ? <img src={url} alt="QR code of my fingerprint" width={296} height={296} /> : <p>…</p>}
      <FingerprintText fp={fingerprint} label="my fingerprint" />
      <div className="row end">
        <button
          type="button"
          className="with-icon"
          onClick={() =>
            void navigator.clipboard
              ?.writeText(fingerprint)
              .then(() => setCopied(true))
              .catch(() => {})
          }
        >
          <Copy size={16} aria-hidden="true" />
          <span>{copied ? 'Copied' : 'Copy text'}</span>
        </button>
        <button type="button" onClick={() => close(false)} data-autofocus>
          Close
        </button>
      </div>
    </Dialog>
  );
}
