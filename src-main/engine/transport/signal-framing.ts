// Length-prefixed framing of the reliable signal channel (one QUIC stream per connection).
// Each frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. A frame longer
// than the limit is skipped byte for byte, so the stream stays in sync and the connection lives
// on; what the frame held never reaches a parser.

export const FRAME_HEADER_BYTES = 4;
export const DEFAULT_MAX_SIGNAL_BYTES = 64 * 1024;

export function encodeFrame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  new DataView(out.buffer).setUint32(0, payload.length);
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

export type DecodedFrame =
  { kind: 'frame'; payload: Uint8Array } | { kind: 'oversized'; length: number };

/** Incremental decoder: feed it stream chunks of any size, get whole frames back. */
export class FrameDecoder {
  #buffered: Uint8Array = new Uint8Array(0);
  #skipRemaining = 0;

  constructor(readonly maxFrameBytes: number = DEFAULT_MAX_SIGNAL_BYTES) {}

  push(chunk: Uint8Array): DecodedFrame[] {
    const out: DecodedFrame[] = [];
    let data = chunk;
    if (this.#skipRemaining > 0) {
      const skip = Math.min(this.#skipRemaining, data.length);
      this.#skipRemaining -= skip;
      data = data.subarray(skip);
    }
    if (data.length === 0) return out;
    let buf = concat(this.#buffered, data);
    for (;;) {
      if (buf.length < FRAME_HEADER_BYTES) break;
      const length = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0);
      if (length > this.maxFrameBytes) {
        out.push({ kind: 'oversized', length });
        const available = buf.length - FRAME_HEADER_BYTES;
        const skip = Math.min(length, available);
        this.#skipRemaining = length - skip;
        buf = buf.subarray(FRAME_HEADER_BYTES + skip);
        if (this.#skipRemaining > 0) break;
        continue;
      }
      if (buf.length < FRAME_HEADER_BYTES + length) break;
      out.push({
        kind: 'frame',
        payload: buf.slice(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length),
      });
      buf = buf.subarray(FRAME_HEADER_BYTES + length);
    }
    this.#buffered = buf.slice();
    return out;
  }

  /** Bytes held waiting for the rest of a frame (bounded by maxFrameBytes + header). */
  get bufferedBytes(): number {
    return this.#buffered.length;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
