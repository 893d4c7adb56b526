// End-to-end encryption of media frames, one sealer and one opener per direction. Owns the
// frame format (1-byte epoch marker + ChaCha20-Poly1305 ciphertext and tag, the clear media
// header as AAD), the nonce layout, the forward-only key ratchet and the receiver's epoch and
// replay bookkeeping. Pure: time comes from an injected clock; nothing here throws on bad input
// from the network (failures are returned and counted).
import { chacha20poly1305 } from '@noble/ciphers/chacha.js';
import { hkdf } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import type { SessionKeys } from './key-exchange.ts';
import { DEFAULT_REPLAY_WINDOW_BITS, ReplayWindow } from './replay-window.ts';

export type Direction = 'caller-to-callee' | 'callee-to-caller';

export const TAG_BYTES = 16;
/** Bytes a sealed frame adds to the payload: the epoch marker and the tag. */
export const FRAME_OVERHEAD = 1 + TAG_BYTES;
export const DEFAULT_REKEY_INTERVAL_MS = 120_000;
/** Far below ChaCha20-Poly1305's limits; the time rule normally fires first (6000 frames at 50/s). */
export const DEFAULT_REKEY_AFTER_FRAMES = 1 << 20;
export const DEFAULT_EPOCH_GRACE_MS = 3_000;
const MAX_EPOCH = 0xffffffff;
const U32_HALF = 0x80000000;

const REKEY_INFO = new TextEncoder().encode('wz-phone/media-e2ee/v1/rekey');

/** key_{n+1} = HKDF(key_n, "rekey"): one-way, so holding today's key reveals no earlier epoch. */
export function ratchetKey(key: Uint8Array): Uint8Array {
  return hkdf(sha256, key, undefined, REKEY_INFO, 32);
}

/**
 * 96-bit nonce: epoch (u32) | direction (1 byte) | 3 zero bytes | sequence (u32). Epoch and
 * sequence already make it unique under one key; the direction byte keeps the two directions
 * apart even if a bug ever gave them the same key.
 */
export function frameNonce(epoch: number, direction: Direction, seq: number): Uint8Array {
  return writeNonce(new Uint8Array(12), epoch, direction, seq);
}

// The per-frame path reuses one nonce buffer: noble reads it only during the synchronous call.
function writeNonce(n: Uint8Array, epoch: number, direction: Direction, seq: number): Uint8Array {
  n[0] = epoch >>> 24;
  n[1] = (epoch >>> 16) & 0xff;
  n[2] = (epoch >>> 8) & 0xff;
  n[3] = epoch & 0xff;
  n[4] = direction === 'caller-to-callee' ? 0x01 : 0x02;
  n[5] = n[6] = n[7] = 0;
  n[8] = seq >>> 24;
  n[9] = (seq >>> 16) & 0xff;
  n[10] = (seq >>> 8) & 0xff;
  n[11] = seq & 0xff;
  return n;
}

function isU32(x: number): boolean {
  return Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

export interface SealerOptions {
  key: Uint8Array;
  direction: Direction;
  now: () => number;
  rekeyIntervalMs?: number;
  rekeyAfterFrames?: number;
}

export type SealFailure = 'bad-sequence' | 'sequence-reused' | 'epochs-exhausted' | 'closed';
export type SealResult =
  { ok: true; sealed: Uint8Array; epoch: number } | { ok: false; reason: SealFailure };

export interface SealerStats {
  sealed: number;
  rekeys: number;
  refused: number;
}

export class FrameSealer {
  readonly direction: Direction;
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #maxFrames: number;
  #key: Uint8Array;
  #epoch = 0;
  #epochStart: number;
  #framesInEpoch = 0;
  #lastSeq = -1;
  #closed = false;
  readonly #nonce = new Uint8Array(12);
  readonly stats: SealerStats = { sealed: 0, rekeys: 0, refused: 0 };

  constructor(opts: SealerOptions) {
    if (opts.key.length !== 32) throw new RangeError('media key must be 32 bytes');
    this.#key = Uint8Array.from(opts.key);
    this.direction = opts.direction;
    this.#now = opts.now;
    this.#intervalMs = opts.rekeyIntervalMs ?? DEFAULT_REKEY_INTERVAL_MS;
    this.#maxFrames = opts.rekeyAfterFrames ?? DEFAULT_REKEY_AFTER_FRAMES;
    this.#epochStart = this.#now();
  }

  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Seals one frame. `seq` is the media packet's own sequence number (it is also inside `header`,
   * which is authenticated as AAD) and must increase within an epoch; when it wraps past 2^32 the
   * sealer moves to a new epoch first, so a (key, nonce) pair is never used twice.
   */
  seal(seq: number, header: Uint8Array, payload: Uint8Array): SealResult {
    if (this.#closed) return this.#refuse('closed');
    if (!isU32(seq)) return this.#refuse('bad-sequence');
    const wrapped = this.#lastSeq >= 0 && seq <= this.#lastSeq && this.#lastSeq - seq >= U32_HALF;
    if (this.#lastSeq >= 0 && seq <= this.#lastSeq && !wrapped)
      return this.#refuse('sequence-reused');
    const due =
      this.#framesInEpoch >= this.#maxFrames || this.#now() - this.#epochStart >= this.#intervalMs;
    if (wrapped || due) {
      if (this.#epoch >= MAX_EPOCH) return this.#refuse('epochs-exhausted');
      this.rekey();
    }
    const out = new Uint8Array(1 + payload.length + TAG_BYTES);
    out[0] = this.#epoch & 0xff;
    chacha20poly1305(
      this.#key,
      writeNonce(this.#nonce, this.#epoch, this.direction, seq),
      header,
    ).encrypt(payload, out.subarray(1));
    this.#lastSeq = seq;
    this.#framesInEpoch++;
    this.stats.sealed++;
    return { ok: true, sealed: out, epoch: this.#epoch };
  }

  /** Moves to the next epoch now and erases the old key. */
  rekey(): void {
    if (this.#closed || this.#epoch >= MAX_EPOCH) return;
    const next = ratchetKey(this.#key);
    this.#key.fill(0);
    this.#key = next;
    this.#epoch++;
    this.#epochStart = this.#now();
    this.#framesInEpoch = 0;
    this.#lastSeq = -1;
    this.stats.rekeys++;
  }

  close(): void {
    this.#closed = true;
    this.#key.fill(0);
  }

  #refuse(reason: SealFailure): SealResult {
    this.stats.refused++;
    return { ok: false, reason };
  }
}

export interface OpenerOptions {
  key: Uint8Array;
  direction: Direction;
  now: () => number;
  /** How long the previous epoch's key is kept after the switch, for late reordered frames. */
  graceMs?: number;
  replayWindowBits?: number;
}

export type OpenFailure =
  'malformed' | 'unknown-epoch' | 'duplicate' | 'too-old' | 'auth-failed' | 'closed';
export type OpenResult =
  { ok: true; payload: Uint8Array; epoch: number } | { ok: false; reason: OpenFailure };

export interface OpenerStats {
  opened: number;
  malformed: number;
  unknownEpoch: number;
  duplicate: number;
  tooOld: number;
  authFailed: number;
  epochSwitches: number;
}

interface EpochState {
  epoch: number;
  key: Uint8Array;
  window: ReplayWindow;
}

export class FrameOpener {
  readonly direction: Direction;
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #windowBits: number;
  #cur: EpochState;
  /** Derived ahead so the first frame of the next epoch costs no more than any other. */
  #nextKey: Uint8Array;
  #prev: (EpochState & { expiresAt: number }) | null = null;
  #closed = false;
  readonly #nonce = new Uint8Array(12);
  readonly stats: OpenerStats = {
    opened: 0,
    malformed: 0,
    unknownEpoch: 0,
    duplicate: 0,
    tooOld: 0,
    authFailed: 0,
    epochSwitches: 0,
  };

  constructor(opts: OpenerOptions) {
    if (opts.key.length !== 32) throw new RangeError('media key must be 32 bytes');
    this.direction = opts.direction;
    this.#now = opts.now;
    this.#graceMs = opts.graceMs ?? DEFAULT_EPOCH_GRACE_MS;
    this.#windowBits = opts.replayWindowBits ?? DEFAULT_REPLAY_WINDOW_BITS;
    const key = Uint8Array.from(opts.key);
    this.#cur = { epoch: 0, key, window: new ReplayWindow(this.#windowBits) };
    this.#nextKey = ratchetKey(key);
  }

  get epoch(): number {
    return this.#cur.epoch;
  }

  /** Epochs whose keys are still in memory (previous within grace, current, next). */
  heldEpochs(): number[] {
    this.#expire();
    const out: number[] = [];
    if (this.#prev) out.push(this.#prev.epoch);
    out.push(this.#cur.epoch);
    if (this.#cur.epoch < MAX_EPOCH) out.push(this.#cur.epoch + 1);
    return out;
  }

  /**
   * Opens one frame. `seq` is the sequence number parsed from `header` (the clear media header,
   * authenticated as AAD). The replay window is consulted before and updated only after the tag
   * verified, so forged frames change nothing but a counter.
   */
  open(seq: number, header: Uint8Array, sealed: Uint8Array): OpenResult {
    if (this.#closed) return { ok: false, reason: 'closed' };
    if (!isU32(seq) || sealed.length < FRAME_OVERHEAD) return this.#fail('malformed');
    this.#expire();
    const marker = sealed[0] ?? 0;
    const delta = (marker - (this.#cur.epoch & 0xff)) & 0xff;
    let slot: EpochState | null = null;
    let isNext = false;
    if (delta === 0) slot = this.#cur;
    else if (delta === 0xff && this.#prev) slot = this.#prev;
    else if (delta === 1 && this.#cur.epoch < MAX_EPOCH) isNext = true;
    if (!slot && !isNext) return this.#fail('unknown-epoch');

    if (slot) {
      const verdict = slot.window.check(seq);
      if (verdict === 'duplicate') return this.#fail('duplicate');
      if (verdict !== 'ok') return this.#fail('too-old');
    }
    const epoch = slot ? slot.epoch : this.#cur.epoch + 1;
    const key = slot ? slot.key : this.#nextKey;
    let payload: Uint8Array;
    try {
      payload = chacha20poly1305(
        key,
        writeNonce(this.#nonce, epoch, this.direction, seq),
        header,
      ).decrypt(sealed.subarray(1));
    } catch {
      return this.#fail('auth-failed');
    }
    if (slot) {
      slot.window.accept(seq);
    } else {
      this.#advance();
      this.#cur.window.accept(seq);
    }
    this.stats.opened++;
    return { ok: true, payload, epoch };
  }

  close(): void {
    this.#closed = true;
    this.#cur.key.fill(0);
    this.#nextKey.fill(0);
    if (this.#prev) this.#prev.key.fill(0);
    this.#prev = null;
  }

  /** The next epoch authenticated: it becomes current, current becomes previous (with grace). */
  #advance(): void {
    if (this.#prev) this.#prev.key.fill(0);
    this.#prev = { ...this.#cur, expiresAt: this.#now() + this.#graceMs };
    this.#cur = {
      epoch: this.#cur.epoch + 1,
      key: this.#nextKey,
      window: new ReplayWindow(this.#windowBits),
    };
    this.#nextKey = ratchetKey(this.#cur.key);
    this.stats.epochSwitches++;
  }

  #expire(): void {
    if (this.#prev && this.#now() >= this.#prev.expiresAt) {
      this.#prev.key.fill(0);
      this.#prev = null;
    }
  }

  #fail(reason: Exclude<OpenFailure, 'closed'>): OpenResult {
    switch (reason) {
      case 'malformed':
        this.stats.malformed++;
        break;
      case 'unknown-epoch':
        this.stats.unknownEpoch++;
        break;
      case 'duplicate':
        this.stats.duplicate++;
        break;
      case 'too-old':
        this.stats.tooOld++;
        break;
      case 'auth-failed':
        this.stats.authFailed++;
        break;
    }
    return { ok: false, reason };
  }
}

export interface MediaCipherOptions {
  now: () => number;
  rekeyIntervalMs?: number;
  rekeyAfterFrames?: number;
  graceMs?: number;
  replayWindowBits?: number;
}

/** Our sealer and opener from the exchange's keys, each direction's key picked by our role. */
export function createMediaCiphers(
  keys: SessionKeys,
  opts: MediaCipherOptions,
): { sealer: FrameSealer; opener: FrameOpener } {
  const weAreCaller = keys.role === 'caller';
  const sealer = new FrameSealer({
    key: weAreCaller ? keys.callerToCallee : keys.calleeToCaller,
    direction: weAreCaller ? 'caller-to-callee' : 'callee-to-caller',
    now: opts.now,
    rekeyIntervalMs: opts.rekeyIntervalMs,
    rekeyAfterFrames: opts.rekeyAfterFrames,
  });
  const opener = new FrameOpener({
    key: weAreCaller ? keys.calleeToCaller : keys.callerToCallee,
    direction: weAreCaller ? 'callee-to-caller' : 'caller-to-callee',
    now: opts.now,
    graceMs: opts.graceMs,
    replayWindowBits: opts.replayWindowBits,
  });
  return { sealer, opener };
}
