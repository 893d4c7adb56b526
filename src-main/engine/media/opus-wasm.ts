// Owns every call into opusscript's WASM build of libopus: one module instance per process, the
// heap buffers PCM and packets pass through, and an encoder+decoder handle per codec.
//
// Why not opusscript's own JS wrapper (index.js, 0.1.1, the latest release): it maps its PCM
// buffers' byte pointers through HEAPU16 (`HEAPU16.subarray(ptr, ...)`), i.e. at twice their
// address, so every encode and decode writes its PCM outside the memory it allocated, onto
// whatever else lives there: other codecs' state and the allocator's own bookkeeping. Over a
// process's life the shared heap is corrupted (wrong packets, then `delete()` throwing "memory
// access out of bounds"). No fixed release or maintained fork is published, and a patch to
// node_modules would have to be carried by a postinstall step that npm 11 does not run unasked;
// the WASM exports themselves are sound, so we call them correctly here.
//
// The exports' contract (opusscript's src/opusscript_encoder.cpp, embind `OpusScriptHandler`):
//  - `_encode(in, n, out, frameSize)` takes PCM as 16-bit cells each holding one byte of the
//    little-endian samples, packs cells [2i, 2i+1] into sample i for i < n in place, then runs
//    opus_encode (at most 1276*3 bytes to `out`). So n is the number of samples (all channels):
//    it reads exactly 2n cells. opusscript passed the byte count, reading 2n cells past its data.
//  - `_decode(in, bytes, out)` decodes up to 5760 samples per channel and writes them to `out`
//    as two 16-bit cells (low byte, high byte) per sample: 4 bytes of heap per sample.
import { createRequire } from 'node:module';

/** The embind handle: one libopus encoder and one decoder. */
interface NativeHandler {
  _encode(inCells: number, samples: number, outPacket: number, frameSize: number): number;
  _decode(inPacket: number, bytes: number, outCells: number): number;
  _encoder_ctl(ctl: number, arg: number): number;
  _decoder_ctl(ctl: number, arg: number): number;
  delete(): void;
}

interface NativeModule {
  OpusScriptHandler: new (
    sampleRate: number,
    channels: number,
    application: number,
  ) => NativeHandler;
  _malloc(bytes: number): number;
  HEAPU8: Uint8Array;
  HEAPU16: Uint16Array;
}

const OPUS_ERRORS: Readonly<Record<string, string>> = {
  '-1': 'Bad argument',
  '-2': 'Buffer too small',
  '-3': 'Internal error',
  '-4': 'Invalid packet',
  '-5': 'Unimplemented',
  '-6': 'Invalid state',
  '-7': 'Memory allocation fail',
};
const OPUS_SET_BITRATE = 4002;
const VALID_SAMPLE_RATES: ReadonlySet<number> = new Set([8000, 12000, 16000, 24000, 48000]);
/** What one decode may produce per channel (the handler's MAX_FRAME_SIZE: 120 ms at 48 kHz). */
const MAX_DECODE_SAMPLES = 5760;
const MAX_CHANNELS = 2;
/** The handler lets opus_encode write this much, and we accept packets up to it. */
const MAX_PACKET_BYTES = 1276 * 3;

/** The heap buffers every codec shares: calls are synchronous, so one set serves them all. */
interface Scratch {
  native: NativeModule;
  /** PCM as one 16-bit cell per byte; the decoder's output (4 bytes a sample) is the larger. */
  pcmCells: number;
  packetIn: number;
  packetOut: number;
}

let scratch: Scratch | null = null;

function isNativeModule(m: unknown): m is NativeModule {
  if (typeof m !== 'object' || m === null) return false;
  const r = m as Record<string, unknown>;
  return (
    typeof r['OpusScriptHandler'] === 'function' &&
    typeof r['_malloc'] === 'function' &&
    r['HEAPU8'] instanceof Uint8Array &&
    r['HEAPU16'] instanceof Uint16Array
  );
}

function allocate(native: NativeModule, bytes: number): number {
  const ptr = native._malloc(bytes);
  // The cell view needs 2-byte alignment; malloc gives 8 or more.
  if (ptr === 0 || ptr % 8 !== 0) throw new Error(`Opus WASM heap: malloc(${bytes}) gave ${ptr}`);
  return ptr;
}

function shared(): Scratch {
  if (scratch) return scratch;
  const require = createRequire(import.meta.url);
  const factory: unknown = require('opusscript/build/opusscript_native_wasm.js');
  if (typeof factory !== 'function') throw new Error('opusscript WASM build did not load');
  const native: unknown = (factory as () => unknown)();
  if (!isNativeModule(native)) throw new Error('opusscript WASM build lacks the expected exports');
  // Allocated once for the process and never freed: nothing can leak or be freed twice.
  scratch = {
    native,
    pcmCells: allocate(native, MAX_DECODE_SAMPLES * MAX_CHANNELS * 4),
    packetIn: allocate(native, MAX_PACKET_BYTES),
    packetOut: allocate(native, MAX_PACKET_BYTES),
  };
  return scratch;
}

function check(what: string, code: number): number {
  if (code < 0) throw new Error(`${what} error: ${OPUS_ERRORS[String(code)] ?? `code ${code}`}`);
  return code;
}

/**
 * One libopus encoder and decoder in opusscript's WASM build, called so that every byte read
 * and written lies in memory we allocated. PCM goes in and comes out as little-endian 16-bit
 * bytes, interleaved when stereo.
 */
export class OpusWasmCodec {
  static readonly Application = Object.freeze({
    VOIP: 2048,
    AUDIO: 2049,
    RESTRICTED_LOWDELAY: 2051,
  });
  static readonly MAX_PACKET_BYTES = MAX_PACKET_BYTES;

  readonly sampleRate: number;
  readonly channels: 1 | 2;
  #handler: NativeHandler | null;
  readonly #scratch: Scratch;

  constructor(sampleRate: number, channels: 1 | 2, application: number) {
    if (!VALID_SAMPLE_RATES.has(sampleRate)) {
      throw new RangeError(`${sampleRate} Hz is not an Opus sample rate`);
    }
    if (channels !== 1 && channels !== 2) throw new RangeError(`${String(channels)} channels`);
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.#scratch = shared();
    this.#handler = new this.#scratch.native.OpusScriptHandler(sampleRate, channels, application);
  }

  /** Encode one frame of `frameSize` samples per channel (2.5 to 60 ms); returns the packet. */
  encode(pcmLe: Uint8Array, frameSize: number): Uint8Array {
    const handler = this.#live();
    if (![2.5, 5, 10, 20, 40, 60].includes((frameSize * 1000) / this.sampleRate)) {
      throw new RangeError(`Opus frame of ${frameSize} samples at ${this.sampleRate} Hz`);
    }
    const samples = frameSize * this.channels;
    if (pcmLe.length !== samples * 2) {
      throw new RangeError(`PCM of ${pcmLe.length} bytes for a ${frameSize}-sample frame`);
    }
    const { native, pcmCells, packetOut } = this.#scratch;
    native.HEAPU16.set(pcmLe, pcmCells >>> 1); // one cell per byte, as the export expects
    const len = check('Encode', handler._encode(pcmCells, samples, packetOut, frameSize));
    return native.HEAPU8.slice(packetOut, packetOut + len);
  }

  /** Decode one packet (an empty one conceals); returns its PCM as little-endian bytes. */
  decode(packet: Uint8Array): Uint8Array {
    const handler = this.#live();
    if (packet.length > MAX_PACKET_BYTES) {
      throw new RangeError(`Opus packet of ${packet.length} bytes (at most ${MAX_PACKET_BYTES})`);
    }
    const { native, pcmCells, packetIn } = this.#scratch;
    native.HEAPU8.set(packet, packetIn);
    const len = check('Decode', handler._decode(packetIn, packet.length, pcmCells));
    const cells = native.HEAPU16.subarray(
      pcmCells >>> 1,
      (pcmCells >>> 1) + len * this.channels * 2,
    );
    const out = new Uint8Array(cells.length);
    out.set(cells); // each cell holds one byte
    return out;
  }

  encoderCTL(ctl: number, arg: number): void {
    check('Encoder CTL', this.#live()._encoder_ctl(ctl, arg));
  }

  decoderCTL(ctl: number, arg: number): void {
    check('Decoder CTL', this.#live()._decoder_ctl(ctl, arg));
  }

  setBitrate(bps: number): void {
    this.encoderCTL(OPUS_SET_BITRATE, bps);
  }

  /** Free the encoder and decoder. Idempotent; any other call afterwards throws. */
  delete(): void {
    const handler = this.#handler;
    this.#handler = null;
    handler?.delete();
  }

  #live(): NativeHandler {
    if (!this.#handler) throw new Error('Opus codec used after it was released');
    return this.#handler;
  }
}
