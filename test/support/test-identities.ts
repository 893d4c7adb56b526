// Identity files for tests that drive `wzp` processes, and session keys for tests and benches
// that run the media pipeline without a network.
import { join } from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import type { Fingerprint } from '../../src-shared/fingerprint.ts';
import { Identity, saveIdentity } from '../../src-main/engine/identity/identity.ts';
import { createMediaCiphers } from '../../src-main/engine/media/frame-cipher.ts';
import { KeyExchange } from '../../src-main/engine/media/key-exchange.ts';

export interface IdentityFile {
  file: string;
  fp: Fingerprint;
}

/** A fresh identity saved as `DIR/NAME.json` for each name. */
export function identityFiles(dir: string, names: readonly string[]): IdentityFile[] {
  return names.map((name) => {
    const id = Identity.generate();
    const file = join(dir, `${name}.json`);
    saveIdentity(file, id);
    return { file, fp: id.fingerprint };
  });
}

/** Both directions' media ciphers of one call between two fresh identities (a = caller). */
export function keyedCiphers(now: () => number, callId = 'test-call') {
  const a = Identity.generate();
  const b = Identity.generate();
  const ka = new KeyExchange({
    signer: a,
    role: 'caller',
    callId,
    peerFingerprint: sha256(b.publicKey),
  });
  const kb = new KeyExchange({
    signer: b,
    role: 'callee',
    callId,
    peerFingerprint: sha256(a.publicKey),
  });
  const ra = ka.accept(kb.localShareWire());
  const rb = kb.accept(ka.localShareWire());
  if (ra.kind !== 'ok' || rb.kind !== 'ok') throw new Error('key exchange failed');
  return { a: createMediaCiphers(ra.keys, { now }), b: createMediaCiphers(rb.keys, { now }) };
}
