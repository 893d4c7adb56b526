import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  describeFingerprintError,
  fingerprintBytes,
  fingerprintToQrPayload,
  fingerprintToText,
  formatFingerprint,
  parseFingerprint,
  parseQrPayload,
} from '../../src-shared/fingerprint.ts';

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const ALPHABET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';

describe('fingerprint text form', () => {
  test('round-trips through text, grouped text and QR payload', () => {
    fc.assert(
      fc.property(bytes32, (b) => {
        const fp = fingerprintToText(b);
        assert.equal(fp.length, 62);
        assert.deepEqual(fingerprintBytes(fp), b);
        for (const form of [
          fp,
          formatFingerprint(fp),
          fingerprintToQrPayload(fp),
          fp.toUpperCase(),
        ]) {
          const parsed = parseFingerprint(form);
          assert.ok(parsed.ok, `${form} should parse`);
          assert.equal(parsed.value, fp);
        }
        const qr = parseQrPayload(fingerprintToQrPayload(fp));
        assert.ok(qr.ok && qr.value === fp);
      }),
    );
  });

  test('the QR payload uses only QR alphanumeric characters', () => {
    fc.assert(
      fc.property(bytes32, (b) => {
        assert.match(fingerprintToQrPayload(fingerprintToText(b)), /^[0-9A-Z]+$/);
      }),
    );
  });

  test('any single-character typo is rejected', () => {
    fc.assert(
      fc.property(bytes32, fc.nat(), fc.integer({ min: 1, max: 31 }), (b, posSeed, shift) => {
        const fp = fingerprintToText(b);
        const pos = 4 + (posSeed % (fp.length - 4));
        const original = fp[pos] as string;
        const replacement = ALPHABET[(ALPHABET.indexOf(original) + shift) % 32] as string;
        const typo = fp.slice(0, pos) + replacement + fp.slice(pos + 1);
        const parsed = parseFingerprint(typo);
        assert.equal(parsed.ok, false);
      }),
    );
  });

  test('swapping two adjacent different characters is rejected', () => {
    fc.assert(
      fc.property(bytes32, fc.nat(), (b, posSeed) => {
        const fp = fingerprintToText(b);
        const pos = 4 + (posSeed % (fp.length - 5));
        fc.pre(fp[pos] !== fp[pos + 1]);
        const swapped = fp.slice(0, pos) + fp[pos + 1] + fp[pos] + fp.slice(pos + 2);
        assert.equal(parseFingerprint(swapped).ok, false);
      }),
    );
  });

  test('up to four substituted characters are always caught', () => {
    fc.assert(
      fc.property(
        bytes32,
        fc.uniqueArray(fc.integer({ min: 4, max: 61 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 31 }),
        (b, positions, shift) => {
          const chars = [...fingerprintToText(b)];
          for (const p of positions) {
            chars[p] = ALPHABET[(ALPHABET.indexOf(chars[p] as string) + shift) % 32] as string;
          }
          assert.equal(parseFingerprint(chars.join('')).ok, false);
        },
      ),
    );
  });

  test('a dropped character is rejected', () => {
    fc.assert(
      fc.property(bytes32, fc.integer({ min: 4, max: 61 }), (b, pos) => {
        const fp = fingerprintToText(b);
        assert.equal(parseFingerprint(fp.slice(0, pos) + fp.slice(pos + 1)).ok, false);
      }),
    );
  });

  test('bad input gets a specific, human message', () => {
    const fp = fingerprintToText(new Uint8Array(32).fill(9));
    const cases: [string, string][] = [
      ['', 'no fingerprint'],
      ['   ', 'no fingerprint'],
      [fp.replace(/q/g, 'b'), 'not used'],
      ['abc1qqqqq', 'not a wz-phone fingerprint'],
      [fp.slice(0, 20) + fp.slice(20).toUpperCase(), 'mixed'],
    ];
    for (const [input, expected] of cases) {
      const r = parseFingerprint(input);
      assert.equal(r.ok, false, input);
      if (!r.ok) assert.match(describeFingerprintError(r.error), new RegExp(expected));
    }
    const typo = parseFingerprint(fp.slice(0, 10) + (fp[10] === 'q' ? 'p' : 'q') + fp.slice(11));
    assert.ok(!typo.ok && typo.error.kind === 'bad-checksum');
    assert.match(describeFingerprintError({ kind: 'bad-checksum' }), /typo/);
  });

  test('grouped form shows groups of five after the prefix', () => {
    const fp = fingerprintToText(new Uint8Array(32));
    const groups = formatFingerprint(fp).split(' ');
    assert.equal(groups[0], 'wzp1');
    assert.ok(groups.slice(1, -1).every((g) => g.length === 5));
  });
});
