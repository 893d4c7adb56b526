// Media key exchange: agreement, and each way a relay in the middle could try to cheat
// (swapped keys, shares replayed across calls, reflected shares, rewritten fields).
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import {
  KeyExchange,
  KeyShareWireSchema,
  createKeyShare,
  deriveSessionKeys,
  keyShareFromWire,
  keyShareToWire,
  shareTranscript,
  verifyPeerShare,
  type KeyShare,
  type Role,
  type Signer,
} from '../../src-main/engine/media/key-exchange.ts';

ed.hashes.sha512 = sha512;

function signer(seedByte: number): Signer {
  const seed = new Uint8Array(32).fill(seedByte);
  return { publicKey: ed.getPublicKey(seed), sign: (m) => ed.sign(m, seed) };
}

const alice = signer(1);
const bob = signer(2);
const mallory = signer(3);

function pair(callId = 'call-1', a: Signer = alice, b: Signer = bob) {
  const caller = new KeyExchange({
    signer: a,
    role: 'caller',
    callId,
    peerFingerprint: sha256(b.publicKey),
  });
  const callee = new KeyExchange({
    signer: b,
    role: 'callee',
    callId,
    peerFingerprint: sha256(a.publicKey),
  });
  return { caller, callee };
}

/** Round trip through JSON text, as signaling would carry it. */
function overTheWire(share: KeyShare): unknown {
  return JSON.parse(JSON.stringify(keyShareToWire(share)));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

describe('key exchange agreement', () => {
  test('both sides derive the same directional keys and SAS', () => {
    const { caller, callee } = pair();
    const r1 = caller.accept(overTheWire(callee.localShare));
    const r2 = callee.accept(overTheWire(caller.localShare));
    assert.equal(r1.kind, 'ok');
    assert.equal(r2.kind, 'ok');
    if (r1.kind !== 'ok' || r2.kind !== 'ok') return;
    assert.deepEqual(r1.keys.callerToCallee, r2.keys.callerToCallee);
    assert.deepEqual(r1.keys.calleeToCaller, r2.keys.calleeToCaller);
    assert.deepEqual(r1.keys.transcriptHash, r2.keys.transcriptHash);
    assert.notDeepEqual(r1.keys.callerToCallee, r1.keys.calleeToCaller);
    assert.equal(r1.keys.callerToCallee.length, 32);
    assert.match(r1.keys.sas, /^\d{6}$/);
    assert.equal(r1.keys.sas, r2.keys.sas);
    assert.equal(r1.keys.role, 'caller');
    assert.equal(r2.keys.role, 'callee');
  });

  test('agreement holds for arbitrary identities and call ids; every call gets fresh keys', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.stringMatching(/^[\x21-\x7e]{1,128}$/),
        (seedA, seedB, callId) => {
          const a: Signer = { publicKey: ed.getPublicKey(seedA), sign: (m) => ed.sign(m, seedA) };
          const b: Signer = { publicKey: ed.getPublicKey(seedB), sign: (m) => ed.sign(m, seedB) };
          const { caller, callee } = pair(callId, a, b);
          const r1 = caller.accept(overTheWire(callee.localShare));
          const r2 = callee.accept(overTheWire(caller.localShare));
          assert.ok(r1.kind === 'ok' && r2.kind === 'ok');
          assert.deepEqual(r1.keys.callerToCallee, r2.keys.callerToCallee);
          assert.deepEqual(r1.keys.calleeToCaller, r2.keys.calleeToCaller);
          assert.equal(r1.keys.sas, r2.keys.sas);
          const k = hex(r1.keys.callerToCallee);
          assert.ok(!seen.has(k), 'keys repeated across calls');
          seen.add(k);
        },
      ),
      { numRuns: 25 },
    );
  });

  test('the wire form is JSON-safe and passes the zod schema', () => {
    const { caller } = pair();
    const wire = caller.localShareWire();
    const parsed = KeyShareWireSchema.parse(JSON.parse(JSON.stringify(wire)));
    assert.deepEqual(parsed, wire);
    const back = keyShareFromWire(parsed);
    assert.ok(back.ok);
    assert.deepEqual(back.share, caller.localShare);
  });

  test('the ephemeral secret is used once: a second accept is refused', () => {
    const { caller, callee } = pair();
    assert.equal(caller.accept(callee.localShare).kind, 'ok');
    assert.equal(caller.accept(callee.localShare).kind, 'already-used');
  });

  test('an injected verifier is the one consulted', () => {
    let calls = 0;
    const caller = new KeyExchange({
      signer: alice,
      role: 'caller',
      callId: 'c',
      peerFingerprint: sha256(bob.publicKey),
      verify: () => {
        calls++;
        return false;
      },
    });
    const callee = new KeyExchange({
      signer: bob,
      role: 'callee',
      callId: 'c',
      peerFingerprint: sha256(alice.publicKey),
    });
    assert.equal(caller.accept(callee.localShare).kind, 'bad-signature');
    assert.equal(calls, 1);
  });
});

describe('key exchange against a cheating relay', () => {
  test('a swapped ephemeral key (MITM) fails the signature, and the genuine share still works after', () => {
    const { caller, callee } = pair();
    const relayEph = createKeyShare({
      signer: mallory,
      role: 'callee',
      callId: 'call-1',
      peerFingerprint: sha256(alice.publicKey),
    }).share.ephemeralPublicKey;
    const forged = { ...callee.localShare, ephemeralPublicKey: relayEph };
    assert.equal(caller.accept(overTheWire(forged)).kind, 'bad-signature');
    assert.equal(caller.accept(overTheWire(callee.localShare)).kind, 'ok');
  });

  test("the relay's own identity in place of the peer's is refused", () => {
    const { caller } = pair();
    const relayShare = createKeyShare({
      signer: mallory,
      role: 'callee',
      callId: 'call-1',
      peerFingerprint: sha256(alice.publicKey),
    }).share;
    assert.equal(caller.accept(relayShare).kind, 'wrong-identity');
    // Claiming Bob's key while signing with its own: the signature does not verify.
    assert.equal(
      caller.accept({ ...relayShare, identityPublicKey: bob.publicKey }).kind,
      'bad-signature',
    );
  });

  test('a share replayed from another call is refused, even with the call id rewritten', () => {
    const old = pair('call-old');
    const { caller } = pair('call-new');
    assert.equal(caller.accept(overTheWire(old.callee.localShare)).kind, 'wrong-call');
    assert.equal(
      caller.accept({ ...old.callee.localShare, callId: 'call-new' }).kind,
      'bad-signature',
    );
  });

  test('a reflected share is refused (different identities, same identity, rewritten role)', () => {
    const { caller } = pair();
    assert.equal(caller.accept(overTheWire(caller.localShare)).kind, 'wrong-role');
    assert.equal(caller.accept({ ...caller.localShare, role: 'callee' }).kind, 'wrong-identity');
    // Same identity on both ends (a person calling their own second device): only the role and
    // the signature over it tell the two shares apart.
    const self = pair('self-call', alice, alice);
    assert.equal(self.caller.accept(self.caller.localShare).kind, 'wrong-role');
    assert.equal(
      self.caller.accept({ ...self.caller.localShare, role: 'callee' }).kind,
      'bad-signature',
    );
  });

  test('a share Bob signed for someone else cannot be used against Alice', () => {
    const forCarol = new KeyExchange({
      signer: bob,
      role: 'callee',
      callId: 'call-1',
      peerFingerprint: sha256(mallory.publicKey),
    });
    const { caller } = pair();
    assert.equal(caller.accept(forCarol.localShare).kind, 'bad-signature');
  });

  test('flipping any bit of a share never yields ok', () => {
    const { callee } = pair();
    const genuine = callee.localShare;
    const fields = ['ephemeralPublicKey', 'identityPublicKey', 'signature'] as const;
    fc.assert(
      fc.property(
        fc.constantFrom(...fields),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (field, at, bit) => {
          const bytes = Uint8Array.from(genuine[field]);
          const i = at % bytes.length;
          bytes[i] = (bytes[i] ?? 0) ^ (1 << bit);
          const { caller } = pair();
          const r = caller.accept(overTheWire({ ...genuine, [field]: bytes }));
          assert.notEqual(r.kind, 'ok');
        },
      ),
      { numRuns: 60 },
    );
  });

  test('verifyPeerShare names each failure', () => {
    const { callee } = pair();
    const expect = {
      peerFingerprint: sha256(bob.publicKey),
      callId: 'call-1',
      ownPublicKey: alice.publicKey,
      peerRole: 'callee' as Role,
    };
    const s = callee.localShare;
    assert.equal(verifyPeerShare(s, expect).kind, 'ok');
    assert.equal(verifyPeerShare({ ...s, version: 2 }, expect).kind, 'unsupported-version');
    assert.equal(
      verifyPeerShare({ ...s, signature: s.signature.subarray(1) }, expect).kind,
      'malformed',
    );
    assert.equal(verifyPeerShare(s, { ...expect, callId: 'x' }).kind, 'wrong-call');
    assert.equal(verifyPeerShare(s, { ...expect, peerRole: 'caller' }).kind, 'wrong-role');
    assert.equal(
      verifyPeerShare(s, { ...expect, peerFingerprint: sha256(mallory.publicKey) }).kind,
      'wrong-identity',
    );
    assert.equal(
      verifyPeerShare(s, { ...expect, ownPublicKey: mallory.publicKey }).kind,
      'bad-signature',
    );
  });

  test('a low-order ephemeral key, even when signed, yields weak-key', () => {
    const { caller } = pair();
    const zero = new Uint8Array(32);
    const msg = shareTranscript(
      1,
      'call-1',
      'callee',
      zero,
      bob.publicKey,
      sha256(alice.publicKey),
    );
    const share: KeyShare = {
      version: 1,
      callId: 'call-1',
      role: 'callee',
      ephemeralPublicKey: zero,
      identityPublicKey: bob.publicKey,
      signature: bob.sign(msg),
    };
    assert.equal(caller.accept(share).kind, 'weak-key');
  });

  test('deriveSessionKeys refuses two shares with the same role', () => {
    const a = createKeyShare({
      signer: alice,
      role: 'caller',
      callId: 'c',
      peerFingerprint: sha256(bob.publicKey),
    });
    const b = createKeyShare({
      signer: bob,
      role: 'caller',
      callId: 'c',
      peerFingerprint: sha256(alice.publicKey),
    });
    assert.equal(deriveSessionKeys(a.ephemeralSecret, a.share, b.share).kind, 'malformed');
  });
});

describe('key share wire validation', () => {
  test('arbitrary junk is malformed and never throws', () => {
    const { caller } = pair();
    fc.assert(
      fc.property(fc.anything(), (junk) => {
        assert.equal(keyShareFromWire(junk).ok, false);
        assert.equal(caller.accept(junk).kind, 'malformed');
      }),
      { numRuns: 300 },
    );
  });

  test('non-canonical base64url, padding, extra fields and bad call ids are rejected', () => {
    const wire = pair().caller.localShareWire();
    const last = wire.ephemeralPublicKey.slice(-1);
    // Same bytes, non-zero unused trailing bits.
    const sibling = String.fromCharCode(last.charCodeAt(0) + 1);
    const cases: unknown[] = [
      { ...wire, ephemeralPublicKey: wire.ephemeralPublicKey.slice(0, -1) + sibling },
      { ...wire, ephemeralPublicKey: wire.ephemeralPublicKey + '=' },
      { ...wire, signature: wire.signature.slice(0, -2) },
      { ...wire, extra: 1 },
      { ...wire, callId: '' },
      { ...wire, callId: 'has space' },
      { ...wire, callId: 'x'.repeat(129) },
      { ...wire, role: 'relay' },
      { ...wire, version: 1.5 },
    ];
    for (const c of cases) assert.equal(keyShareFromWire(c).ok, false, JSON.stringify(c));
  });
});
