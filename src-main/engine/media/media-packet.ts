// Media packet wire format: a fixed clear header (authenticated as AAD by the encryption layer,
// never encrypted, so the receiver can route and order before decrypting) and a body (encrypted)
// holding the primary Opus payload plus up to three RFC 2198-style redundant copies of earlier
// frames. Decoding never throws on bad bytes: it returns a typed error value.
//
// Header (MEDIA_HEADER_SIZE = 11 bytes, big-endian):
//   0      version (MEDIA_VERSION)
//   1      flags (FLAG_*; unknown bits are rejected so a future meaning is never misread)
//   2      tier (4 bits) | frame duration code (2 bits: 10/20/40/60 ms) | FEC depth (2 bits)
//   3..6   sequence number, u32
//   7..10  media timestamp, u32, 48 kHz samples
// Body:
//   0      number of redundant blocks n (0..3, and at most the header's FEC depth)
//   then n block headers of 5 bytes, oldest frame first (largest offsets first, as in RFC 2198):
//          seq offset u8 (1..255) | timestamp offset u16 (1..65535 samples)
//          | duration code (top 2 bits) + payload length (low 14 bits) u16
//   then the n redundant payloads in the same order, then the primary payload (rest of body).

export const MEDIA_VERSION = 1;
export const MEDIA_HEADER_SIZE = 11;
/** Whole plaintext packet (header + body); keeps a packet under any sane path MTU. */
export const MAX_MEDIA_PACKET_SIZE = 1200;
export const MAX_BODY_SIZE = MAX_MEDIA_PACKET_SIZE - MEDIA_HEADER_SIZE;
export const MAX_REDUNDANT_BLOCKS = 3;
export const MAX_TIER = 15;
export const MAX_FEC_DEPTH = 3;
export const SAMPLE_RATE = 48_000;
export const RED_BLOCK_HEADER_SIZE = 5;
export const MAX_SEQ_OFFSET = 255;
export const MAX_TS_OFFSET = 0xffff;

/** The frame is Opus DTX / comfort noise: the sender may go quiet after it. */
export const FLAG_DTX = 0x01;
/** First frame of a talkspurt (after DTX or at call start): a good moment to re-adjust delay. */
export const FLAG_TALKSPURT_START = 0x02;
const KNOWN_FLAGS = FLAG_DTX | FLAG_TALKSPURT_START;

export const FRAME_DURATIONS_MS = [10, 20, 40, 60] as const;
export type FrameDurationMs = (typeof FRAME_DURATIONS_MS)[number];
export type FecDepth = 0 | 1 | 2 | 3;

export interface MediaHeader {
  version: typeof MEDIA_VERSION;
  flags: number;
  /** Quality tier id, 0..15 (meaning belongs to quality control). */
  tier: number;
  /** u32, wraps. */
  seq: number;
  /** u32 in 48 kHz samples, wraps. */
  timestamp: number;
  durationMs: FrameDurationMs;
  /** The redundancy depth the sender is using now (the body may carry fewer blocks). */
  fecDepth: FecDepth;
}

export interface RedundantBlock {
  /** How many sequence numbers before the primary (1..255). */
  seqOffset: number;
  /** How many samples before the primary's timestamp (1..65535). */
  tsOffset: number;
  durationMs: FrameDurationMs;
  payload: Uint8Array;
}

export interface MediaBody {
  primary: Uint8Array;
  /** Ordered by increasing seqOffset (newest copy first). */
  redundant: RedundantBlock[];
}

/** One decoded audio frame as the jitter buffer consumes it. */
export interface MediaFrame {
  seq: number;
  timestamp: number;
  durationSamples: number;
  payload: Uint8Array;
  /** Came from a redundant block rather than its own packet. */
  recovered?: boolean;
  /** Comfort-noise frame: the sender may send nothing until the next talkspurt. */
  dtx?: boolean;
}

export type MediaDecodeErrorKind =
  | 'too-short'
  | 'too-long'
  | 'bad-version'
  | 'bad-flags'
  | 'bad-duration'
  | 'bad-block-count'
  | 'bad-block'
  | 'truncated'
  | 'empty-payload';

export interface MediaDecodeError {
  kind: MediaDecodeErrorKind;
  detail: string;
}

export type DecodeResult<T> = { ok: true; value: T } | { ok: false; error: MediaDecodeError };

const fail = <T>(kind: MediaDecodeErrorKind, detail: string): DecodeResult<T> => ({
  ok: false,
  error: { kind, detail },
});

export function durationCode(ms: number): number {
  const code = FRAME_DURATIONS_MS.indexOf(ms as FrameDurationMs);
  if (code < 0) throw new RangeError(`unsupported frame duration ${ms} ms`);
  return code;
}

function durationFromCode(code: number): FrameDurationMs {
  // code is always 0..3 by masking, so the lookup cannot miss
  return FRAME_DURATIONS_MS[code & 3] as FrameDurationMs;
}

export function durationMsToSamples(ms: FrameDurationMs): number {
  return (ms * SAMPLE_RATE) / 1000;
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}

/** Encodes our own header; throws RangeError on an invalid field (a local bug, not network input). */
export function encodeMediaHeader(h: MediaHeader): Uint8Array {
  if (h.version !== MEDIA_VERSION) throw new RangeError(`unknown media version ${h.version}`);
  if (!Number.isInteger(h.flags) || (h.flags & ~KNOWN_FLAGS) !== 0 || h.flags < 0)
    throw new RangeError(`bad flags ${h.flags}`);
  if (!Number.isInteger(h.tier) || h.tier < 0 || h.tier > MAX_TIER)
    throw new RangeError(`bad tier ${h.tier}`);
  if (!isU32(h.seq)) throw new RangeError(`bad seq ${h.seq}`);
  if (!isU32(h.timestamp)) throw new RangeError(`bad timestamp ${h.timestamp}`);
  if (!Number.isInteger(h.fecDepth) || h.fecDepth < 0 || h.fecDepth > MAX_FEC_DEPTH)
    throw new RangeError(`bad fec depth ${h.fecDepth}`);
  const out = new Uint8Array(MEDIA_HEADER_SIZE);
  const view = new DataView(out.buffer);
  out[0] = h.version;
  out[1] = h.flags;
  out[2] = (h.tier << 4) | (durationCode(h.durationMs) << 2) | h.fecDepth;
  view.setUint32(3, h.seq);
  view.setUint32(7, h.timestamp);
  return out;
}

/**
 * Decodes the clear header from the start of `bytes` (extra bytes after it are ignored, so the
 * whole packet can be passed).
 */
export function decodeMediaHeader(bytes: Uint8Array): DecodeResult<MediaHeader> {
  if (bytes.length < MEDIA_HEADER_SIZE)
    return fail('too-short', `header needs ${MEDIA_HEADER_SIZE} bytes`);
  if (bytes.length > MAX_MEDIA_PACKET_SIZE)
    return fail('too-long', `packet over ${MAX_MEDIA_PACKET_SIZE} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint8(0);
  if (version !== MEDIA_VERSION) return fail('bad-version', `version ${version}`);
  const flags = view.getUint8(1);
  if ((flags & ~KNOWN_FLAGS) !== 0) return fail('bad-flags', `flags 0x${flags.toString(16)}`);
  const b2 = view.getUint8(2);
  return {
    ok: true,
    value: {
      version: MEDIA_VERSION,
      flags,
      tier: b2 >> 4,
      durationMs: durationFromCode((b2 >> 2) & 3),
      fecDepth: (b2 & 3) as FecDepth,
      seq: view.getUint32(3),
      timestamp: view.getUint32(7),
    },
  };
}

export function mediaBodySize(body: MediaBody): number {
  let size = 1 + RED_BLOCK_HEADER_SIZE * body.redundant.length + body.primary.length;
  for (const b of body.redundant) size += b.payload.length;
  return size;
}

function checkBlocks(blocks: readonly RedundantBlock[]): string | undefined {
  if (blocks.length > MAX_REDUNDANT_BLOCKS) return `${blocks.length} blocks`;
  let prevSeq = 0;
  let prevTs = 0;
  for (const b of blocks) {
    if (!Number.isInteger(b.seqOffset) || b.seqOffset <= prevSeq || b.seqOffset > MAX_SEQ_OFFSET)
      return `seq offset ${b.seqOffset}`;
    if (!Number.isInteger(b.tsOffset) || b.tsOffset <= prevTs || b.tsOffset > MAX_TS_OFFSET)
      return `timestamp offset ${b.tsOffset}`;
    if (!FRAME_DURATIONS_MS.includes(b.durationMs)) return `duration ${b.durationMs}`;
    if (b.payload.length === 0 || b.payload.length > MAX_BODY_SIZE)
      return `payload length ${b.payload.length}`;
    prevSeq = b.seqOffset;
    prevTs = b.tsOffset;
  }
  return undefined;
}

/** Encodes our own body; throws RangeError on an invalid block or an oversize result. */
export function encodeMediaBody(body: MediaBody): Uint8Array {
  const problem = checkBlocks(body.redundant);
  if (problem !== undefined) throw new RangeError(`bad redundant block: ${problem}`);
  if (body.primary.length === 0) throw new RangeError('empty primary payload');
  const size = mediaBodySize(body);
  if (size > MAX_BODY_SIZE) throw new RangeError(`body of ${size} bytes over ${MAX_BODY_SIZE}`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const n = body.redundant.length;
  out[0] = n;
  // Wire order is oldest first (RFC 2198): reverse of the in-memory newest-first order.
  const wire = [...body.redundant].reverse();
  let pos = 1;
  for (const b of wire) {
    view.setUint8(pos, b.seqOffset);
    view.setUint16(pos + 1, b.tsOffset);
    view.setUint16(pos + 3, (durationCode(b.durationMs) << 14) | b.payload.length);
    pos += RED_BLOCK_HEADER_SIZE;
  }
  for (const b of wire) {
    out.set(b.payload, pos);
    pos += b.payload.length;
  }
  out.set(body.primary, pos);
  return out;
}

/**
 * Decodes a plaintext body. With `header`, also checks the body against it (block count within
 * the announced FEC depth). Payloads are copies, so the input buffer can be reused.
 */
export function decodeMediaBody(bytes: Uint8Array, header?: MediaHeader): DecodeResult<MediaBody> {
  if (bytes.length < 1) return fail('too-short', 'empty body');
  if (bytes.length > MAX_BODY_SIZE) return fail('too-long', `body over ${MAX_BODY_SIZE} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getUint8(0);
  if (n > MAX_REDUNDANT_BLOCKS) return fail('bad-block-count', `${n} redundant blocks`);
  if (header !== undefined && n > header.fecDepth)
    return fail('bad-block-count', `${n} blocks with FEC depth ${header.fecDepth}`);
  const headersEnd = 1 + n * RED_BLOCK_HEADER_SIZE;
  if (bytes.length < headersEnd) return fail('truncated', 'block headers cut short');
  const wire: { seqOffset: number; tsOffset: number; durationMs: FrameDurationMs; len: number }[] =
    [];
  let payloadBytes = 0;
  for (let i = 0; i < n; i++) {
    const at = 1 + i * RED_BLOCK_HEADER_SIZE;
    const lenField = view.getUint16(at + 3);
    const len = lenField & 0x3fff;
    wire.push({
      seqOffset: view.getUint8(at),
      tsOffset: view.getUint16(at + 1),
      durationMs: durationFromCode(lenField >> 14),
      len,
    });
    payloadBytes += len;
  }
  if (headersEnd + payloadBytes > bytes.length)
    return fail('truncated', 'redundant payloads cut short');
  let pos = headersEnd;
  const redundant: RedundantBlock[] = [];
  for (const w of wire) {
    redundant.push({
      seqOffset: w.seqOffset,
      tsOffset: w.tsOffset,
      durationMs: w.durationMs,
      payload: bytes.slice(pos, pos + w.len),
    });
    pos += w.len;
  }
  redundant.reverse();
  const problem = checkBlocks(redundant);
  if (problem !== undefined) return fail('bad-block', problem);
  // An Opus packet always has at least its TOC byte.
  if (pos >= bytes.length) return fail('empty-payload', 'no primary payload');
  return { ok: true, value: { primary: bytes.slice(pos), redundant } };
}

export interface MediaPacket {
  header: MediaHeader;
  body: MediaBody;
}

/** Header and body bytes back to back, for paths without encryption (tests, local loops). */
export function encodeMediaPacket(p: MediaPacket): Uint8Array {
  if (p.body.redundant.length > p.header.fecDepth)
    throw new RangeError('more redundant blocks than the header FEC depth');
  const h = encodeMediaHeader(p.header);
  const b = encodeMediaBody(p.body);
  const out = new Uint8Array(h.length + b.length);
  out.set(h, 0);
  out.set(b, h.length);
  return out;
}

export function decodeMediaPacket(bytes: Uint8Array): DecodeResult<MediaPacket> {
  const h = decodeMediaHeader(bytes);
  if (!h.ok) return h;
  const b = decodeMediaBody(bytes.subarray(MEDIA_HEADER_SIZE), h.value);
  if (!b.ok) return b;
  return { ok: true, value: { header: h.value, body: b.value } };
}

/**
 * Splits a received packet into its checked header, the header bytes (the AAD) and the body bytes
 * (the ciphertext), without copying.
 */
export function splitMediaPacket(
  bytes: Uint8Array,
): DecodeResult<{ header: MediaHeader; headerBytes: Uint8Array; bodyBytes: Uint8Array }> {
  const h = decodeMediaHeader(bytes);
  if (!h.ok) return h;
  return {
    ok: true,
    value: {
      header: h.value,
      headerBytes: bytes.subarray(0, MEDIA_HEADER_SIZE),
      bodyBytes: bytes.subarray(MEDIA_HEADER_SIZE),
    },
  };
}
