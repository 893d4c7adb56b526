// Where the identity seed rests. The app asks a SeedStore, never the file system: the Electron
// shell passes a codec backed by the platform secret store (safeStorage), the web host and tests
// keep the seed in an owner-only file. The file names the protection used, so a seed sealed by
// the secret store is never mistaken for a plain one (or the other way round).
import { z } from 'zod';
import { loadJsonFile, writeJsonFileAtomic } from './json-file.ts';

export interface SeedStore {
  load(): Promise<Uint8Array | null>;
  /** Refuses to overwrite an existing seed: an identity is never replaced silently. */
  save(seed: Uint8Array): Promise<void>;
  /** 'secret-store' when the platform protects the seed, 'file' when only file modes do. */
  readonly protection: 'secret-store' | 'file';
}

/** Seals bytes with the platform secret store (Electron's safeStorage in the shell). */
export interface SecretCodec {
  encrypt(plain: Uint8Array): Uint8Array;
  decrypt(sealed: Uint8Array): Uint8Array;
}

const SeedFileSchema = z.strictObject({
  type: z.literal('wzp-app-seed'),
  version: z.literal(1),
  protection: z.enum(['secret-store', 'file']),
  data: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .max(4096),
});

export class SeedStoreError extends Error {
  override name = 'SeedStoreError';
}

export class FileSeedStore implements SeedStore {
  readonly protection: 'secret-store' | 'file';

  constructor(
    private readonly path: string,
    private readonly codec: SecretCodec | null = null,
  ) {
    this.protection = codec ? 'secret-store' : 'file';
  }

  async load(): Promise<Uint8Array | null> {
    const r = loadJsonFile(this.path, SeedFileSchema);
    if (r.kind === 'missing') return null;
    if (r.kind === 'corrupt') {
      throw new SeedStoreError(`identity file is damaged (${r.reason}); it was set aside`);
    }
    const data = Buffer.from(r.value.data, 'base64url');
    if (r.value.protection === 'secret-store') {
      if (!this.codec) {
        throw new SeedStoreError(
          'identity is sealed by the platform secret store, which is not available here',
        );
      }
      return Uint8Array.from(this.codec.decrypt(data));
    }
    return Uint8Array.from(data);
  }

  async save(seed: Uint8Array): Promise<void> {
    if ((await this.load()) !== null) throw new SeedStoreError('an identity already exists');
    const data = this.codec ? this.codec.encrypt(seed) : seed;
    writeJsonFileAtomic(this.path, {
      type: 'wzp-app-seed',
      version: 1,
      protection: this.protection,
      data: Buffer.from(data).toString('base64url'),
    });
  }
}

/** Keeps the seed in memory only (tests). */
export class MemorySeedStore implements SeedStore {
  readonly protection = 'file' as const;
  #seed: Uint8Array | null = null;
  async load(): Promise<Uint8Array | null> {
    return this.#seed ? Uint8Array.from(this.#seed) : null;
  }
  async save(seed: Uint8Array): Promise<void> {
    if (this.#seed) throw new SeedStoreError('an identity already exists');
    this.#seed = Uint8Array.from(seed);
  }
}
