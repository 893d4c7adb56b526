// A person's (or a relay's) identity: a 32-byte Ed25519 seed, its public key and fingerprint,
// and the seed file on disk. The seed file is JSON that repeats the fingerprint, so a damaged or
// hand-edited file is caught instead of silently becoming another identity.
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, writeSync } from 'node:fs';
import { sha256 } from '@noble/hashes/sha2.js';
import { z } from 'zod';
import { fingerprintToText, type Fingerprint } from '../../../src-shared/fingerprint.ts';
import { FileInputError, openBoundedFile } from '../base/bounded-file.ts';
import { publicKeyFromSeed, signWithSeed } from './ed25519.ts';

export const SEED_BYTES = 32;
/** An identity file is about 200 bytes of JSON. */
const MAX_IDENTITY_FILE_BYTES = 4096;

export class Identity {
  readonly publicKey: Uint8Array;
  readonly fingerprint: Fingerprint;
  readonly #seed: Uint8Array;

  private constructor(seed: Uint8Array) {
    this.#seed = Uint8Array.from(seed);
    this.publicKey = publicKeyFromSeed(this.#seed);
    this.fingerprint = fingerprintOfPublicKey(this.publicKey);
  }

  static generate(): Identity {
    return new Identity(randomBytes(SEED_BYTES));
  }

  static fromSeed(seed: Uint8Array): Identity {
    if (seed.length !== SEED_BYTES) {
      throw new IdentityError(
        'short',
        `an identity seed is ${SEED_BYTES} bytes, got ${seed.length}`,
      );
    }
    return new Identity(seed);
  }

  sign(message: Uint8Array): Uint8Array {
    return signWithSeed(this.#seed, message);
  }

  /** The seed leaves this object only to be saved or turned into a TLS key. */
  exportSeed(): Uint8Array {
    return Uint8Array.from(this.#seed);
  }

  toJSON(): { fingerprint: Fingerprint } {
    return { fingerprint: this.fingerprint };
  }
}

export function fingerprintOfPublicKey(publicKey: Uint8Array): Fingerprint {
  return fingerprintToText(sha256(publicKey));
}

export type IdentityErrorKind =
  'missing' | 'exists' | 'short' | 'corrupt' | 'insecure-permissions' | 'unreadable';

export class IdentityError extends Error {
  constructor(
    readonly kind: IdentityErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'IdentityError';
  }
}

const IdentityFileSchema = z.object({
  type: z.literal('wzp-identity'),
  version: z.literal(1),
  seed: z.string(),
  fingerprint: z.string(),
});

/** Write a new seed file, readable by its owner only. Never overwrites. */
export function saveIdentity(path: string, identity: Identity): void {
  const body =
    JSON.stringify(
      {
        type: 'wzp-identity',
        version: 1,
        seed: Buffer.from(identity.exportSeed()).toString('base64url'),
        fingerprint: identity.fingerprint,
      },
      null,
      2,
    ) + '\n';
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new IdentityError(
        'exists',
        `${path} already exists; refusing to overwrite an identity`,
      );
    }
    throw new IdentityError('unreadable', `cannot create ${path}: ${code ?? String(e)}`);
  }
  try {
    writeSync(fd, body);
  } finally {
    closeSync(fd);
  }
}

export function loadIdentity(path: string): Identity {
  let fd: number;
  try {
    // Non-blocking and checked before reading: a FIFO or a device given as the identity must
    // fail at once, not hang or read forever.
    fd = openBoundedFile(path, MAX_IDENTITY_FILE_BYTES).fd;
  } catch (e) {
    if (!(e instanceof FileInputError)) throw e;
    if (e.kind === 'missing')
      throw new IdentityError('missing', `identity file ${path} does not exist`);
    if (e.kind === 'too-large')
      throw new IdentityError('corrupt', `identity file ${path} is too large to be one`);
    throw new IdentityError('unreadable', `identity file: ${e.message}`);
  }
  let raw: string;
  try {
    const st = fstatSync(fd);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw new IdentityError(
        'insecure-permissions',
        `identity file ${path} is readable by others (mode ${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`,
      );
    }
    raw = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  if (raw.trim().length === 0) throw new IdentityError('short', `identity file ${path} is empty`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new IdentityError(
      'corrupt',
      `identity file ${path} is not valid JSON (damaged or truncated)`,
    );
  }
  const parsed = IdentityFileSchema.safeParse(json);
  if (!parsed.success) {
    throw new IdentityError('corrupt', `identity file ${path} is not a wz-phone identity file`);
  }
  const seed = Buffer.from(parsed.data.seed, 'base64url');
  if (seed.length !== SEED_BYTES) {
    throw new IdentityError(
      'short',
      `identity file ${path} holds a ${seed.length}-byte seed, expected ${SEED_BYTES}`,
    );
  }
  const identity = Identity.fromSeed(seed);
  if (identity.fingerprint !== parsed.data.fingerprint) {
    throw new IdentityError(
      'corrupt',
      `identity file ${path} is damaged: its seed does not match its fingerprint`,
    );
  }
  return identity;
}
