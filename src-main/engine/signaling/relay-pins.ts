// Trust on first use for relays: the first time we reach a relay address we pin the identity it
// shows; from then on another identity at that address is an error (DESIGN.md: a change is an
// error, not a prompt to click through). Pins live in a small JSON file written atomically.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { FileInputError, readBoundedFile } from '../base/bounded-file.ts';
import { dirname } from 'node:path';
import { z } from 'zod';
import { parseFingerprint, type Fingerprint } from '../../../src-shared/fingerprint.ts';
import type { ExpectedPeer } from '../transport/endpoint.ts';

/** A pin is about 100 bytes; a pin file is a handful of them. */
const MAX_PIN_FILE_BYTES = 1024 * 1024;

const PinFileSchema = z.object({
  version: z.literal(1),
  relays: z.record(z.string(), z.string()),
});

export interface PinEvent {
  address: string;
  fingerprint: Fingerprint;
}

export class RelayPinStore {
  #pins = new Map<string, Fingerprint>();

  /** `path` null keeps pins in memory only (tests, one-shot CLI runs). */
  constructor(
    readonly path: string | null,
    private readonly onPinned?: (e: PinEvent) => void,
  ) {
    if (path) this.#load(path);
  }

  pinned(address: string): Fingerprint | undefined {
    return this.#pins.get(address);
  }

  /** The dial expectation for `address`: the pinned key, or pin whatever is seen first. */
  expectationFor(address: string): ExpectedPeer {
    return {
      decide: (seen) => {
        const pinned = this.#pins.get(address);
        if (pinned === undefined) {
          this.#pins.set(address, seen);
          this.#save();
          this.onPinned?.({ address, fingerprint: seen });
          return { ok: true };
        }
        return pinned === seen ? { ok: true } : { ok: false, expected: pinned };
      },
    };
  }

  /** Forget a pin: only on the user's explicit request (e.g. the relay operator rotated keys). */
  forget(address: string): void {
    this.#pins.delete(address);
    this.#save();
  }

  #load(path: string): void {
    let raw: string;
    try {
      raw = readBoundedFile(path, MAX_PIN_FILE_BYTES).toString('utf8');
    } catch (e) {
      if (e instanceof FileInputError && e.kind === 'missing') return;
      throw new Error(`cannot read relay pins: ${(e as Error).message}`);
    }
    let parsed: z.infer<typeof PinFileSchema>;
    try {
      parsed = PinFileSchema.parse(JSON.parse(raw));
    } catch {
      throw new Error(`relay pin file ${path} is damaged; refusing to trust relays blindly`);
    }
    for (const [address, fp] of Object.entries(parsed.relays)) {
      const r = parseFingerprint(fp);
      if (!r.ok)
        throw new Error(`relay pin file ${path} holds an invalid fingerprint for ${address}`);
      this.#pins.set(address, r.value);
    }
  }

  #save(): void {
    if (!this.path) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    const body = { version: 1, relays: Object.fromEntries(this.#pins) };
    writeFileSync(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}
