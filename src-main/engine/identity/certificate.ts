// TLS certificates derived from an identity seed. The same seed always gives the same key and
// the same certificate bytes (fixed serial, validity and name; Ed25519 signatures are
// deterministic), so a peer's certificate carries nothing but its public key: trust comes from
// comparing that key's fingerprint with the one we expect, never from a CA or a name.
import 'reflect-metadata';
import { X509Certificate, createPrivateKey, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { Fingerprint } from '../../../src-shared/fingerprint.ts';
import { fingerprintOfPublicKey, type Identity } from './identity.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const NOT_BEFORE = new Date('2020-01-01T00:00:00Z');
const NOT_AFTER = new Date('2099-12-31T23:59:59Z');

export interface TlsCredentials {
  /** PKCS#8 DER of the Ed25519 private key. */
  keyDer: Uint8Array;
  /** X.509 DER of the self-signed certificate. */
  certDer: Uint8Array;
  keyPem: string;
  certPem: string;
}

const cache = new WeakMap<Identity, Promise<TlsCredentials>>();

export function tlsCredentialsFor(identity: Identity): Promise<TlsCredentials> {
  let p = cache.get(identity);
  if (!p) {
    p = deriveCredentials(identity);
    cache.set(identity, p);
  }
  return p;
}

async function deriveCredentials(identity: Identity): Promise<TlsCredentials> {
  const keyDer = Buffer.concat([PKCS8_ED25519_PREFIX, identity.exportSeed()]);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', keyDer, { name: 'Ed25519' }, false, [
    'sign',
  ]);
  const publicKey = await webcrypto.subtle.importKey(
    'raw',
    identity.publicKey,
    { name: 'Ed25519' },
    true,
    ['verify'],
  );
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=wz-phone',
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    keys: { privateKey, publicKey },
    signingAlgorithm: { name: 'Ed25519' },
  });
  const certDer = new Uint8Array(cert.rawData);
  const keyPem = createPrivateKey({ key: keyDer, format: 'der', type: 'pkcs8' })
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();
  return { keyDer, certDer, keyPem, certPem: cert.toString('pem') };
}

export type PeerCertificateCheck =
  { ok: true; publicKey: Uint8Array; fingerprint: Fingerprint } | { ok: false; reason: string };

/**
 * Read the identity out of a peer's certificate: it must parse, be Ed25519, and be signed by its
 * own key (proof that the peer holds the seed is TLS's CertificateVerify; this check only makes
 * sure the certificate is the kind we issue).
 */
export function identifyPeerCertificate(der: Uint8Array): PeerCertificateCheck {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(der);
  } catch {
    return { ok: false, reason: 'unparseable certificate' };
  }
  const key = cert.publicKey;
  if (key.asymmetricKeyType !== 'ed25519') {
    return {
      ok: false,
      reason: `certificate key is ${key.asymmetricKeyType ?? 'unknown'}, not Ed25519`,
    };
  }
  if (!cert.verify(key)) return { ok: false, reason: 'certificate is not self-signed by its key' };
  const jwk = key.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') return { ok: false, reason: 'certificate key has no public part' };
  const publicKey = new Uint8Array(Buffer.from(jwk.x, 'base64url'));
  return { ok: true, publicKey, fingerprint: fingerprintOfPublicKey(publicKey) };
}
