// Packet-level FEC (RFC 2198-style redundancy): the sender repeats earlier Opus frames inside
// later packets, at a depth that quality control may change on any packet; the receiver turns
// one packet back into its primary frame plus the earlier frames it carries, and the jitter
// buffer fills holes with them. Needed because opusscript cannot decode Opus in-band FEC
// (FINDINGS.md). Offsets are spread (1,2,4 at depth 3) so one burst does not take a frame and
// all its copies.

import {
  FLAG_DTX,
  MAX_MEDIA_PACKET_SIZE,
  MAX_FEC_DEPTH,
  MAX_SEQ_OFFSET,
  MAX_TS_OFFSET,
  MEDIA_HEADER_SIZE,
  MEDIA_VERSION,
  decodeMediaBody,
  durationMsToSamples,
  encodeMediaBody,
  encodeMediaHeader,
  mediaBodySize,
} from './media-packet.ts';
import { FRAME_OVERHEAD } from './frame-cipher.ts';
import type {
  DecodeResult,
  FecDepth,
  FrameDurationMs,
  MediaBody,
  MediaFrame,
  MediaHeader,
  RedundantBlock,
} from './media-packet.ts';

export type FecOffsets = Readonly<Record<1 | 2 | 3, readonly number[]>>;

export const DEFAULT_FEC_OFFSETS: FecOffsets = { 1: [1], 2: [1, 3], 3: [1, 2, 4] };
/** Room left for the encryption layer's additions (epoch marker and tag). */
export const DEFAULT_RESERVED_BYTES = FRAME_OVERHEAD;

export interface FecEncoderOptions {
  /** Per-depth sequence offsets; each list has `depth` strictly increasing entries in 1..255. */
  offsets?: Partial<FecOffsets>;
  /** Limit for the final packet on the wire (default MAX_MEDIA_PACKET_SIZE). */
  maxPacketSize?: number;
  /** Bytes the layers after us add to the body (encryption tag, nonce...). */
  reservedBytes?: number;
}

export interface OutgoingFrame {
  seq: number;
  timestamp: number;
  durationMs: FrameDurationMs;
  /** One encoded Opus packet. */
  payload: Uint8Array;
  tier?: number;
  flags?: number;
}

export interface EncodedMediaPacket {
  header: MediaHeader;
  body: MediaBody;
  /** The clear header: send as is and pass as AAD to the cipher. */
  headerBytes: Uint8Array;
  /** The plaintext body: encrypt, then send after the header. */
  bodyBytes: Uint8Array;
  /** Redundant blocks left out to stay within the size budget. */
  droppedRedundancy: number;
}

export interface FecEncoderStats {
  packets: number;
  redundantBlocks: number;
  redundantBytes: number;
  droppedRedundancy: number;
}

function checkOffsets(depth: number, list: readonly number[]): void {
  if (list.length !== depth) throw new RangeError(`depth ${depth} needs ${depth} offsets`);
  let prev = 0;
  for (const o of list) {
    if (!Number.isInteger(o) || o <= prev || o > MAX_SEQ_OFFSET)
      throw new RangeError(`bad FEC offsets for depth ${depth}: ${list.join(',')}`);
    prev = o;
  }
}

export class FecEncoder {
  private readonly offsets: FecOffsets;
  private readonly bodyBudget: number;
  private readonly maxOffset: number;
  /** Recently sent frames by u32 seq; pruned to the largest offset in use. */
  private readonly history = new Map<number, OutgoingFrame>();
  readonly stats: FecEncoderStats = {
    packets: 0,
    redundantBlocks: 0,
    redundantBytes: 0,
    droppedRedundancy: 0,
  };

  constructor(options: FecEncoderOptions = {}) {
    const offsets = { ...DEFAULT_FEC_OFFSETS, ...options.offsets };
    for (const d of [1, 2, 3] as const) checkOffsets(d, offsets[d]);
    this.offsets = offsets;
    this.maxOffset = Math.max(...offsets[1], ...offsets[2], ...offsets[3]);
    const maxPacket = options.maxPacketSize ?? MAX_MEDIA_PACKET_SIZE;
    const reserved = options.reservedBytes ?? DEFAULT_RESERVED_BYTES;
    this.bodyBudget = Math.min(maxPacket, MAX_MEDIA_PACKET_SIZE) - MEDIA_HEADER_SIZE - reserved;
    if (!(this.bodyBudget > 1)) throw new RangeError('no room left for a body');
  }

  /**
   * Builds the packet for `frame` with `depth` copies of earlier frames (fewer when an earlier
   * frame was never given to us or would not fit), and remembers `frame` for later packets.
   * Throws RangeError if the primary payload alone cannot fit (an encoder misconfiguration).
   */
  encode(frame: OutgoingFrame, depth: FecDepth): EncodedMediaPacket {
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_FEC_DEPTH)
      throw new RangeError(`bad FEC depth ${depth}`);
    const header: MediaHeader = {
      version: MEDIA_VERSION,
      flags: frame.flags ?? 0,
      tier: frame.tier ?? 0,
      seq: frame.seq >>> 0,
      timestamp: frame.timestamp >>> 0,
      durationMs: frame.durationMs,
      fecDepth: depth,
    };
    const headerBytes = encodeMediaHeader(header);
    const redundant: RedundantBlock[] = [];
    if (depth !== 0) {
      let prevTs = 0;
      for (const off of this.offsets[depth]) {
        const old = this.history.get((header.seq - off) >>> 0);
        if (old === undefined || old.payload.length === 0) continue;
        const tsOffset = (header.timestamp - old.timestamp) >>> 0;
        // A timestamp that ran backwards or jumped (stream restart) makes the copy unplaceable.
        if (tsOffset <= prevTs || tsOffset > MAX_TS_OFFSET) continue;
        prevTs = tsOffset;
        redundant.push({
          seqOffset: off,
          tsOffset,
          durationMs: old.durationMs,
          payload: old.payload,
        });
      }
    }
    const body: MediaBody = { primary: frame.payload, redundant };
    let dropped = 0;
    // Oldest copies go first: they are the least likely to still be useful to the receiver.
    while (mediaBodySize(body) > this.bodyBudget && redundant.length > 0) {
      redundant.pop();
      dropped++;
    }
    if (mediaBodySize(body) > this.bodyBudget)
      throw new RangeError(`primary payload of ${frame.payload.length} bytes does not fit`);
    const bodyBytes = encodeMediaBody(body);

    this.history.set(header.seq, { ...frame, seq: header.seq, timestamp: header.timestamp });
    this.history.delete((header.seq - this.maxOffset - 1) >>> 0);
    if (this.history.size > this.maxOffset + 1) {
      // Seq jumped (migration, restart): keep only what offsets can still reach.
      for (const s of [...this.history.keys()]) {
        const age = (header.seq - s) >>> 0;
        if (age > this.maxOffset) this.history.delete(s);
      }
    }

    this.stats.packets++;
    this.stats.redundantBlocks += redundant.length;
    for (const b of redundant) this.stats.redundantBytes += b.payload.length;
    this.stats.droppedRedundancy += dropped;
    return { header, body, headerBytes, bodyBytes, droppedRedundancy: dropped };
  }

  /** Forget history, e.g. when the sequence space restarts. */
  reset(): void {
    this.history.clear();
  }
}

/** The primary frame first, then the earlier frames carried as redundancy (newest first). */
export function framesFromPacket(header: MediaHeader, body: MediaBody): MediaFrame[] {
  const dtx = (header.flags & FLAG_DTX) !== 0;
  const frames: MediaFrame[] = [
    {
      seq: header.seq,
      timestamp: header.timestamp,
      durationSamples: durationMsToSamples(header.durationMs),
      payload: body.primary,
      ...(dtx ? { dtx: true } : {}),
    },
  ];
  for (const b of body.redundant) {
    frames.push({
      seq: (header.seq - b.seqOffset) >>> 0,
      timestamp: (header.timestamp - b.tsOffset) >>> 0,
      durationSamples: durationMsToSamples(b.durationMs),
      payload: b.payload,
      recovered: true,
    });
  }
  return frames;
}

export interface FecDecoderStats {
  packets: number;
  malformed: number;
  redundantFrames: number;
}

/**
 * Receive side: plaintext body (after decryption) plus its checked header → frames for the
 * jitter buffer. Malformed bodies are counted and yield a typed error, never an exception.
 */
export class FecDecoder {
  readonly stats: FecDecoderStats = { packets: 0, malformed: 0, redundantFrames: 0 };

  receive(header: MediaHeader, bodyBytes: Uint8Array): DecodeResult<MediaFrame[]> {
    const body = decodeMediaBody(bodyBytes, header);
    if (!body.ok) {
      this.stats.malformed++;
      return body;
    }
    this.stats.packets++;
    this.stats.redundantFrames += body.value.redundant.length;
    return { ok: true, value: framesFromPacket(header, body.value) };
  }
}
