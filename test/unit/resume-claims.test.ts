// Claims to resume a call: matched only pair-wise (each party naming the other), expiring, found by
// the party they name, and dropped with the client that made them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Identity } from '../../src-main/engine/identity/identity.ts';
import { newCallId } from '../../src-main/engine/call/call.ts';
import { ResumeClaims } from '../../src-main/relay/resume-claims.ts';

const A = Identity.generate().fingerprint;
const B = Identity.generate().fingerprint;
const M = Identity.generate().fingerprint;

describe('ResumeClaims', () => {
  test('a claim is taken only by the same party naming the same peer, once', () => {
    const c = new ResumeClaims({ ttlMs: 1000, now: () => 0 });
    const id = newCallId();
    assert.ok(c.claim(id, A, B));
    assert.equal(c.take(id, A, M), false, 'naming another peer');
    assert.equal(c.take(id, B, A), false, 'the other party has not claimed');
    assert.equal(c.take(newCallId(), A, B), false, 'another call');
    assert.ok(c.take(id, A, B));
    assert.equal(c.take(id, A, B), false, 'taken once');
    assert.equal(c.size, 0);
  });

  test('claims expire, are found by the peer they name, and go with their party', () => {
    let t = 0;
    const c = new ResumeClaims({ ttlMs: 1000, now: () => t, max: 3 });
    const [x, y, z] = [newCallId(), newCallId(), newCallId()];
    c.claim(x, A, B);
    t = 500;
    c.claim(y, M, B);
    c.claim(z, A, M);
    assert.equal(c.claim(newCallId(), B, A), false, 'full');
    assert.deepEqual(
      c
        .naming(B)
        .map((n) => n.party)
        .sort(),
      [A, M].sort(),
    );
    t = 1200;
    assert.deepEqual(
      c.naming(B).map((n) => n.callId),
      [y],
      'the first claim expired',
    );
    assert.equal(c.take(x, A, B), false);
    c.dropParty(A, [z]);
    assert.deepEqual(c.naming(M), []);
    c.sweep();
    assert.equal(c.size, 1);
  });
});
