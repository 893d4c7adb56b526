// Per-call media key agreement: each side sends one signed X25519 ephemeral key share through
// signaling; from the DH secret and both shares we derive two directional media keys and a short
// authentication string (SAS). Owns the share format (binary, wire/JSON form, zod schema), the
// signed transcript, peer-share verification and the key schedule. The identity is injected as a
// Signer so this module never touches a seed, and verification can be injected too.
import { x25519 } from '@noble/curves/ed25519.js';
import * as ed from '@noble/ed25519';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { randomBytes as nobleRandomBytes } from '@noble/hashes/utils.js';
import {
  KEY_SHARE_CALL_ID,
  KeyShareWireSchema,
  type KeyShareWire,
} from '../../../src-shared/call-signals.ts';

export const KEY_SHARE_VERSION = 1;
export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SAS_DIGITS = 6;

// Domain separation: a signature made for a key share can never be mistaken for a signature over
// anything else the identity signs (relay challenges, certificates), and vice versa.
const SHARE_CONTEXT = utf8('wz-phone/media-e2ee/v1/key-share\0');
const TRANSCRIPT_CONTEXT = utf8('wz-phone/media-e2ee/v1/transcript\0');
const INFO_CALLER_TO_CALLEE = utf8('wz-phone/media-e2ee/v1/key caller->callee');
const INFO_CALLEE_TO_CALLER = utf8('wz-phone/media-e2ee/v1/key callee->caller');
const INFO_SAS = utf8('wz-phone/media-e2ee/v1/sas');

export type Role = 'caller' | 'callee';

export interface Signer {
  publicKey: Uint8Array;
  sign(msg: Uint8Array): Uint8Array;
}

/** Must not throw for malformed input (return false). */
export type Verifier = (
  signature: Uint8Array,
  message: Uint8Array,
  publicKey: Uint8Array,
) => boolean;

export interface KeyShare {
  version: number;
  callId: string;
  role: Role;
  ephemeralPublicKey: Uint8Array;
  identityPublicKey: Uint8Array;
  signature: Uint8Array;
}

// The wire form (canonical base64url, one text form per byte string) is a signaling schema and
// lives in src-shared with the other call signals; the transcript rules for call ids follow it.
export { KeyShareWireSchema, type KeyShareWire };
const CALL_ID = KEY_SHARE_CALL_ID;

export type VerifyFailure =
  | 'malformed'
  | 'unsupported-version'
  | 'wrong-call'
  | 'wrong-role'
  | 'wrong-identity'
  | 'bad-signature';
export type VerifyResult = { kind: 'ok' } | { kind: VerifyFailure };

export interface ExpectedPeer {
  /**
   * The fingerprint (SHA-256 of the identity public key, 32 bytes) of whom we expect to talk to:
   * a caller knows only the fingerprint it dials, never the key, so that is what shares bind.
   */
  peerFingerprint: Uint8Array;
  callId: string;
  /** Our own identity key: the peer signed its fingerprint as "expected peer", which defeats reflection. */
  ownPublicKey: Uint8Array;
  /** The role the peer must hold: the opposite of ours. */
  peerRole: Role;
}

export interface SessionKeys {
  role: Role;
  callerToCallee: Uint8Array;
  calleeToCaller: Uint8Array;
  /** Six decimal digits both people can read out to each other. */
  sas: string;
  /** SHA-256 over both shares' signed bytes (caller first); binds anything later to this exchange. */
  transcriptHash: Uint8Array;
}

export type DeriveResult =
  { kind: 'ok'; keys: SessionKeys } | { kind: 'weak-key' } | { kind: 'malformed' };

export type AcceptResult =
  { kind: 'ok'; keys: SessionKeys } | { kind: VerifyFailure | 'weak-key' | 'already-used' };

export function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

export function oppositeRole(role: Role): Role {
  return role === 'caller' ? 'callee' : 'caller';
}

/** The exact bytes a share's signature covers. */
export function shareTranscript(
  version: number,
  callId: string,
  role: Role,
  ephemeralPublicKey: Uint8Array,
  signerPublicKey: Uint8Array,
  expectedPeerFingerprint: Uint8Array,
): Uint8Array {
  const id = utf8(callId);
  const out = new Uint8Array(SHARE_CONTEXT.length + 1 + 1 + 2 + id.length + 3 * KEY_BYTES);
  let o = 0;
  out.set(SHARE_CONTEXT, o);
  o += SHARE_CONTEXT.length;
  out[o++] = version & 0xff;
  out[o++] = role === 'caller' ? 1 : 2;
  out[o++] = (id.length >>> 8) & 0xff;
  out[o++] = id.length & 0xff;
  out.set(id, o);
  o += id.length;
  out.set(ephemeralPublicKey, o);
  o += KEY_BYTES;
  out.set(signerPublicKey, o);
  o += KEY_BYTES;
  out.set(expectedPeerFingerprint, o);
  return out;
}

export interface CreateShareOptions {
  signer: Signer;
  role: Role;
  callId: string;
  /** SHA-256 of the expected peer's identity public key (its fingerprint's bytes). */
  peerFingerprint: Uint8Array;
  /** Injected for deterministic tests; defaults to the platform CSPRNG. */
  randomBytes?: (n: number) => Uint8Array;
}

/** Makes a fresh ephemeral key pair and our signed share. The secret must be used once, then wiped. */
export function createKeyShare(opts: CreateShareOptions): {
  share: KeyShare;
  ephemeralSecret: Uint8Array;
} {
  if (!CALL_ID.test(opts.callId))
    throw new RangeError('callId must be 1-128 printable ASCII characters');
  if (opts.signer.publicKey.length !== KEY_BYTES || opts.peerFingerprint.length !== KEY_BYTES) {
    throw new RangeError('identity public keys and fingerprints are 32 bytes');
  }
  const rand = opts.randomBytes ?? nobleRandomBytes;
  const { secretKey, publicKey } = x25519.keygen(rand(KEY_BYTES));
  const msg = shareTranscript(
    KEY_SHARE_VERSION,
    opts.callId,
    opts.role,
    publicKey,
    opts.signer.publicKey,
    opts.peerFingerprint,
  );
  const share: KeyShare = {
    version: KEY_SHARE_VERSION,
    callId: opts.callId,
    role: opts.role,
    ephemeralPublicKey: publicKey,
    identityPublicKey: Uint8Array.from(opts.signer.publicKey),
    signature: opts.signer.sign(msg),
  };
  return { share, ephemeralSecret: secretKey };
}

function b64u(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

function fromB64u(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

export function keyShareToWire(share: KeyShare): KeyShareWire {
  return {
    version: share.version,
    callId: share.callId,
    role: share.role,
    ephemeralPublicKey: b64u(share.ephemeralPublicKey),
    identityPublicKey: b64u(share.identityPublicKey),
    signature: b64u(share.signature),
  };
}

export function keyShareFromWire(
  input: unknown,
): { ok: true; share: KeyShare } | { ok: false; reason: 'malformed'; detail: string } {
  const parsed = KeyShareWireSchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, reason: 'malformed', detail: parsed.error.issues[0]?.message ?? 'invalid' };
  }
  const w = parsed.data;
  return {
    ok: true,
    share: {
      version: w.version,
      callId: w.callId,
      role: w.role,
      ephemeralPublicKey: fromB64u(w.ephemeralPublicKey),
      identityPublicKey: fromB64u(w.identityPublicKey),
      signature: fromB64u(w.signature),
    },
  };
}

function isWellFormed(share: KeyShare): boolean {
  return (
    typeof share === 'object' &&
    share !== null &&
    Number.isInteger(share.version) &&
    typeof share.callId === 'string' &&
    CALL_ID.test(share.callId) &&
    (share.role === 'caller' || share.role === 'callee') &&
    share.ephemeralPublicKey instanceof Uint8Array &&
    share.ephemeralPublicKey.length === KEY_BYTES &&
    share.identityPublicKey instanceof Uint8Array &&
    share.identityPublicKey.length === KEY_BYTES &&
    share.signature instanceof Uint8Array &&
    share.signature.length === SIGNATURE_BYTES
  );
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return d === 0;
}

/**
 * RFC 8032 strict verification (zip215 off): one valid encoding per signature. The SHA-512 hook
 * is set only if nobody configured it yet, so this does not fight the identity module.
 */
export const defaultVerifier: Verifier = (signature, message, publicKey) => {
  if (ed.hashes.sha512 === undefined) ed.hashes.sha512 = sha512;
  try {
    return ed.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};

/**
 * Checks a peer's share against what this call expects. The cheap field checks come first so a
 * replayed or misrouted share is reported for what it is; the signature, which covers all of
 * those fields plus our own identity key, is what actually makes the result trustworthy.
 */
export function verifyPeerShare(
  share: KeyShare,
  expect: ExpectedPeer,
  verify: Verifier = defaultVerifier,
): VerifyResult {
  if (!isWellFormed(share)) return { kind: 'malformed' };
  if (share.version !== KEY_SHARE_VERSION) return { kind: 'unsupported-version' };
  if (share.callId !== expect.callId) return { kind: 'wrong-call' };
  if (share.role !== expect.peerRole) return { kind: 'wrong-role' };
  if (!bytesEqual(sha256(share.identityPublicKey), expect.peerFingerprint)) {
    return { kind: 'wrong-identity' };
  }
  const msg = shareTranscript(
    share.version,
    share.callId,
    share.role,
    share.ephemeralPublicKey,
    share.identityPublicKey,
    sha256(expect.ownPublicKey),
  );
  return verify(share.signature, msg, share.identityPublicKey)
    ? { kind: 'ok' }
    : { kind: 'bad-signature' };
}

function signedBytesOf(share: KeyShare, peer: KeyShare): Uint8Array {
  return shareTranscript(
    share.version,
    share.callId,
    share.role,
    share.ephemeralPublicKey,
    share.identityPublicKey,
    sha256(peer.identityPublicKey),
  );
}

/**
 * Key schedule. Call only with a peer share that `verifyPeerShare` accepted. The salt is a hash of
 * both shares in role order (caller first), so both sides compute it identically and any
 * difference in what they saw yields unrelated keys and a different SAS.
 */
export function deriveSessionKeys(
  ephemeralSecret: Uint8Array,
  own: KeyShare,
  peer: KeyShare,
): DeriveResult {
  if (!isWellFormed(own) || !isWellFormed(peer) || own.role === peer.role)
    return { kind: 'malformed' };
  let dh: Uint8Array;
  try {
    dh = x25519.getSharedSecret(ephemeralSecret, peer.ephemeralPublicKey);
  } catch {
    // Low-order point: the "secret" would be known to anyone.
    return { kind: 'weak-key' };
  }
  const [caller, callee] = own.role === 'caller' ? [own, peer] : [peer, own];
  const a = signedBytesOf(caller, callee);
  const b = signedBytesOf(callee, caller);
  const th = new Uint8Array(TRANSCRIPT_CONTEXT.length + a.length + b.length);
  th.set(TRANSCRIPT_CONTEXT, 0);
  th.set(a, TRANSCRIPT_CONTEXT.length);
  th.set(b, TRANSCRIPT_CONTEXT.length + a.length);
  const transcriptHash = sha256(th);
  const callerToCallee = hkdf(sha256, dh, transcriptHash, INFO_CALLER_TO_CALLEE, KEY_BYTES);
  const calleeToCaller = hkdf(sha256, dh, transcriptHash, INFO_CALLEE_TO_CALLER, KEY_BYTES);
  const sasBytes = hkdf(sha256, dh, transcriptHash, INFO_SAS, 4);
  dh.fill(0);
  const sasNum =
    (((sasBytes[0] ?? 0) << 24) |
      ((sasBytes[1] ?? 0) << 16) |
      ((sasBytes[2] ?? 0) << 8) |
      (sasBytes[3] ?? 0)) >>>
    0;
  const sas = String(sasNum % 10 ** SAS_DIGITS).padStart(SAS_DIGITS, '0');
  return {
    kind: 'ok',
    keys: { role: own.role, callerToCallee, calleeToCaller, sas, transcriptHash },
  };
}

export interface KeyExchangeOptions extends CreateShareOptions {
  verify?: Verifier;
}

/** One side of one call's exchange: holds the ephemeral secret until the peer's share arrives. */
export class KeyExchange {
  readonly localShare: KeyShare;
  readonly #secret: Uint8Array;
  readonly #expect: ExpectedPeer;
  readonly #verify: Verifier;
  #used = false;

  constructor(opts: KeyExchangeOptions) {
    const { share, ephemeralSecret } = createKeyShare(opts);
    this.localShare = share;
    this.#secret = ephemeralSecret;
    this.#verify = opts.verify ?? defaultVerifier;
    this.#expect = {
      peerFingerprint: Uint8Array.from(opts.peerFingerprint),
      callId: opts.callId,
      ownPublicKey: Uint8Array.from(opts.signer.publicKey),
      peerRole: oppositeRole(opts.role),
    };
  }

  localShareWire(): KeyShareWire {
    return keyShareToWire(this.localShare);
  }

  /**
   * Verifies the peer's share (wire form straight from the network, or decoded) and derives the
   * session keys. A failed verification leaves the exchange usable, so a forged share injected by
   * a relay cannot stop the genuine one from being accepted afterwards; a success is final.
   */
  accept(peer: unknown): AcceptResult {
    if (this.#used) return { kind: 'already-used' };
    let share: KeyShare;
    if (isKeyShareObject(peer)) {
      share = peer;
    } else {
      const decoded = keyShareFromWire(peer);
      if (!decoded.ok) return { kind: 'malformed' };
      share = decoded.share;
    }
    const v = verifyPeerShare(share, this.#expect, this.#verify);
    if (v.kind !== 'ok') return v;
    const d = deriveSessionKeys(this.#secret, this.localShare, share);
    if (d.kind === 'malformed') return { kind: 'malformed' };
    this.dispose();
    return d;
  }

  /** Wipes the ephemeral secret: once keys exist (or the call ends) it must not survive. */
  dispose(): void {
    this.#used = true;
    this.#secret.fill(0);
  }
}

function isKeyShareObject(x: unknown): x is KeyShare {
  return (
    typeof x === 'object' &&
    x !== null &&
    (x as { signature?: unknown }).signature instanceof Uint8Array
  );
}
