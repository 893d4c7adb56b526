// A fingerprint as people read it: grouped, monospace, selectable.
import { formatFingerprint, type Fingerprint } from '../../src-shared/fingerprint.ts';

export function FingerprintText({ fp, label }: { fp: string; label?: string }) {
  return (
    <code className="fingerprint" aria-label={label ?? 'fingerprint'}>
      {formatFingerprint(fp as Fingerprint)}
    </code>
  );
}
