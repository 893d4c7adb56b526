// Fingerprints as people and QR codes see them. A fingerprint is the SHA-256 of an Ed25519
// public key (32 bytes). Its text form is bech32m with the prefix "wzp": an alphabet without
// 1/b/i/o, case-insensitive, and a BCH checksum that is guaranteed to catch any error touching
// up to four characters, so a typo never silently names another person. People see it in groups
// of five; the QR payload is the same string in upper case (QR alphanumeric mode is denser).
// Browser-safe: used by the renderer as well as the engine.
import { bech32m } from 'bech32';

export const FINGERPRINT_BYTES = 32;
const PREFIX = 'wzp';

declare const fingerprintBrand: unique symbol;
/** The canonical (lower-case, ungrouped) text form; only `parseFingerprint` and `fingerprintToText` make one. */
export type Fingerprint = string & { readonly [fingerprintBrand]: true };

export type FingerprintParseError =
  | { kind: 'empty' }
  | { kind: 'bad-characters'; detail: string }
  | { kind: 'bad-checksum' }
  | { kind: 'wrong-prefix'; prefix: string }
  | { kind: 'wrong-length'; bytes: number };

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: FingerprintParseError };

/** Encode 32 fingerprint bytes as the canonical text form. */
export function fingerprintToText(bytes: Uint8Array): Fingerprint {
  if (bytes.length !== FINGERPRINT_BYTES) {
    throw new RangeError(`a fingerprint is ${FINGERPRINT_BYTES} bytes, got ${bytes.length}`);
  }
  return bech32m.encode(PREFIX, bech32m.toWords(bytes), 90) as Fingerprint;
}

/**
 * Parse what a person typed, pasted or scanned. Spaces, dashes and line breaks between groups
 * are ignored and case does not matter, but every character of the fingerprint itself counts.
 */
export function parseFingerprint(input: string): ParseResult<Fingerprint> {
  const compact = input.trim().replace(/[\s-]+/g, '');
  if (compact.length === 0) return { ok: false, error: { kind: 'empty' } };
  const lower = compact.toLowerCase();
  if (compact !== lower && compact !== compact.toUpperCase()) {
    return { ok: false, error: { kind: 'bad-characters', detail: 'mixed upper and lower case' } };
  }
  if (!lower.startsWith(`${PREFIX}1`)) {
    const sep = lower.lastIndexOf('1');
    return {
      ok: false,
      error: { kind: 'wrong-prefix', prefix: sep > 0 ? lower.slice(0, sep) : lower.slice(0, 3) },
    };
  }
  const bad = /[^qpzry9x8gf2tvdw0s3jn54khce6mua7l]/.exec(lower.slice(PREFIX.length + 1));
  if (bad) {
    return {
      ok: false,
      error: { kind: 'bad-characters', detail: `"${bad[0]}" is not used in fingerprints` },
    };
  }
  const decoded = bech32m.decodeUnsafe(lower, 90);
  if (!decoded) return { ok: false, error: { kind: 'bad-checksum' } };
  const bytes = bech32m.fromWordsUnsafe(decoded.words);
  if (!bytes || bytes.length !== FINGERPRINT_BYTES) {
    return { ok: false, error: { kind: 'wrong-length', bytes: bytes?.length ?? 0 } };
  }
  return { ok: true, value: lower as Fingerprint };
}

/** The 32 bytes behind a canonical fingerprint. */
export function fingerprintBytes(fp: Fingerprint): Uint8Array {
  const decoded = bech32m.decode(fp, 90);
  return Uint8Array.from(bech32m.fromWords(decoded.words));
}

/** The grouped form shown to people: "wzp1 qpzry 9x8gf ...". */
export function formatFingerprint(fp: Fingerprint): string {
  const body = fp.slice(PREFIX.length + 1);
  const groups = body.match(/.{1,5}/g) ?? [];
  return [`${PREFIX}1`, ...groups].join(' ');
}

/** A short form for logs and lists; never used to identify anyone. */
export function shortFingerprint(fp: Fingerprint): string {
  return fp.slice(PREFIX.length + 1, PREFIX.length + 1 + 10);
}

/** The QR payload: the canonical text in upper case, for the QR alphanumeric mode. */
export function fingerprintToQrPayload(fp: Fingerprint): string {
  return fp.toUpperCase();
}

/** Parse a scanned QR payload (the same checks as typed text). */
export function parseQrPayload(payload: string): ParseResult<Fingerprint> {
  return parseFingerprint(payload);
}

/** One line a person can act on. */
export function describeFingerprintError(e: FingerprintParseError): string {
  switch (e.kind) {
    case 'empty':
      return 'no fingerprint given';
    case 'bad-characters':
      return `not a fingerprint: ${e.detail}`;
    case 'bad-checksum':
      return 'fingerprint has a typo: its checksum does not match (check each character)';
    case 'wrong-prefix':
      return `not a wz-phone fingerprint (starts with "${e.prefix}", expected "wzp1")`;
    case 'wrong-length':
      return `fingerprint has the wrong length (${e.bytes} bytes, expected ${FINGERPRINT_BYTES})`;
  }
}
