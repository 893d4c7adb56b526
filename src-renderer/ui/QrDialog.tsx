// My identity as a QR code, with the grouped text fingerprint under it.
import { useEffect, useState } from 'react';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { fingerprintQrDataUrl } from '../qr/qr.ts';
import { FingerprintText } from './FingerprintText.tsx';
import { useApp } from './store-context.ts';

export function QrDialog({ fingerprint }: { fingerprint: Fingerprint }) {
  const close = useApp((s) => s.setQrOpen);
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    void fingerprintQrDataUrl(fingerprint).then((u) => live && setUrl(u));
    return () => {
      live = false;
    };
  }, [fingerprint]);
  return (
    <div className="dialog-backdrop">
      <div role="dialog" aria-modal="true" aria-labelledby="qr-title" className="dialog qr">
        <h2 id="qr-title">My QR code</h2>
        <p>Let a contact scan this, or send them the text below.</p>
        {url ? (
          <img src={url} alt="QR code of my fingerprint" width={296} height={296} />
        ) : (
          <p>…</p>
        )}
        <FingerprintText fp={fingerprint} label="my fingerprint" />
        <div className="row end">
          <button type="button" onClick={() => void navigator.clipboard?.writeText(fingerprint)}>
            Copy text
          </button>
          <button type="button" onClick={() => close(false)} autoFocus>
            Close
          </button>
        </div>
      </div>
    </div>
  );
}
