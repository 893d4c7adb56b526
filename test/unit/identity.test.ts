import { describe, test, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import {
  Identity,
  IdentityError,
  loadIdentity,
  saveIdentity,
} from '../../src-main/engine/identity/identity.ts';
import {
  identifyPeerCertificate,
  tlsCredentialsFor,
} from '../../src-main/engine/identity/certificate.ts';
import { verifySignature } from '../../src-main/engine/identity/ed25519.ts';
import { parseFingerprint } from '../../src-shared/fingerprint.ts';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wzp-id-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function expectIdentityError(fn: () => unknown, kind: string): void {
  assert.throws(fn, (e: unknown) => e instanceof IdentityError && e.kind === kind);
}

describe('identity', () => {
  test('a fresh identity has a valid fingerprint and signs verifiably', () => {
    const id = Identity.generate();
    assert.ok(parseFingerprint(id.fingerprint).ok);
    const msg = new TextEncoder().encode('hello');
    assert.ok(verifySignature(id.sign(msg), msg, id.publicKey));
    assert.ok(!verifySignature(id.sign(msg), new TextEncoder().encode('hellp'), id.publicKey));
    assert.ok(
      !verifySignature(new Uint8Array(3), msg, id.publicKey),
      'malformed signature is just invalid',
    );
  });

  test('the same seed always gives the same identity; JSON never shows the seed', () => {
    const seed = new Uint8Array(32).fill(42);
    const a = Identity.fromSeed(seed);
    const b = Identity.fromSeed(seed);
    assert.equal(a.fingerprint, b.fingerprint);
    assert.doesNotMatch(JSON.stringify(a), /seed/);
    expectIdentityError(() => Identity.fromSeed(new Uint8Array(31)), 'short');
  });

  test('save writes mode 0600 and load returns the same identity', () => {
    const path = join(dir, 'me.json');
    const id = Identity.generate();
    saveIdentity(path, id);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(loadIdentity(path).fingerprint, id.fingerprint);
  });

  test('save refuses to overwrite', () => {
    const path = join(dir, 'me.json');
    saveIdentity(path, Identity.generate());
    const before = readFileSync(path, 'utf8');
    expectIdentityError(() => saveIdentity(path, Identity.generate()), 'exists');
    assert.equal(readFileSync(path, 'utf8'), before);
  });

  test('load reports missing, empty, short, corrupt and world-readable files', () => {
    expectIdentityError(() => loadIdentity(join(dir, 'nope.json')), 'missing');
    const write = (name: string, body: string, mode = 0o600) => {
      const p = join(dir, name);
      writeFileSync(p, body, { mode });
      chmodSync(p, mode);
      return p;
    };
    expectIdentityError(() => loadIdentity(write('empty.json', '')), 'short');
    expectIdentityError(() => loadIdentity(write('junk.json', '{"type":')), 'corrupt');
    expectIdentityError(() => loadIdentity(write('other.json', '{"a":1}')), 'corrupt');
    const id = Identity.generate();
    const good = JSON.stringify({
      type: 'wzp-identity',
      version: 1,
      seed: Buffer.from(id.exportSeed()).toString('base64url'),
      fingerprint: id.fingerprint,
    });
    const short = JSON.parse(good) as Record<string, string>;
    short.seed = Buffer.alloc(16, 1).toString('base64url');
    expectIdentityError(() => loadIdentity(write('short.json', JSON.stringify(short))), 'short');
    const flipped = JSON.parse(good) as Record<string, string>;
    const seed = Buffer.from(flipped.seed as string, 'base64url');
    seed[0] = (seed[0] as number) ^ 1;
    flipped.seed = seed.toString('base64url');
    expectIdentityError(
      () => loadIdentity(write('flipped.json', JSON.stringify(flipped))),
      'corrupt',
    );
    expectIdentityError(
      () => loadIdentity(write('open.json', good, 0o644)),
      'insecure-permissions',
    );
    assert.equal(loadIdentity(write('ok.json', good)).fingerprint, id.fingerprint);
  });

  test('certificate is deterministic, self-signed Ed25519, and names the identity', async () => {
    const seed = new Uint8Array(32).fill(7);
    const a = await tlsCredentialsFor(Identity.fromSeed(seed));
    const b = await tlsCredentialsFor(Identity.fromSeed(seed));
    assert.deepEqual(a.certDer, b.certDer);
    const cert = new X509Certificate(a.certDer);
    assert.ok(cert.verify(cert.publicKey));
    const check = identifyPeerCertificate(a.certDer);
    assert.ok(check.ok);
    assert.equal(check.fingerprint, Identity.fromSeed(seed).fingerprint);
    const other = await tlsCredentialsFor(Identity.fromSeed(new Uint8Array(32).fill(8)));
    const otherCheck = identifyPeerCertificate(other.certDer);
    assert.ok(otherCheck.ok && otherCheck.fingerprint !== check.fingerprint);
    assert.deepEqual(identifyPeerCertificate(new Uint8Array([1, 2, 3])), {
      ok: false,
      reason: 'unparseable certificate',
    });
  });
});
