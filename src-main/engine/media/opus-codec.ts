// Owns the Opus codec stages of the media pipeline: PCM frame -> Opus packet (with our own
// discontinuous transmission) and Opus packet -> PCM frame (with concealment and comfort noise).
// Everything here runs at 48 kHz mono through opusscript's WASM build (called by opus-wasm.ts, not
// by opusscript's wrapper, which corrupts the heap). The quirks this module hides (FINDINGS.md):
// encode() wants little-endian bytes, an empty packet conceals a fixed 60 ms, in-band FEC cannot
// be decoded, and a bad packet throws.
// Why one file of about 470 lines: the encoder stage (with its DTX gate) and the decoder stage
// (with concealment and comfort noise) share those quirks, which stay in one place.
import { OpusWasmCodec } from './opus-wasm.ts';
import { DEFAULT_TIER, PIPELINE_SAMPLE_RATE } from './quality-tiers.ts';
import type { QualityTier } from './quality-tiers.ts';

const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_SIGNAL = 4024;
const OPUS_SIGNAL_VOICE = 3001;
/** Largest frame one packet may decode to here: we never send more than 60 ms. */
const MAX_PACKET_SAMPLES = 2880;
/** RFC 6716: at most 1275 bytes per frame, and we never send more than one 60 ms frame. */
const MAX_PACKET_BYTES = 1275 * 3;
const VALID_FRAME_SAMPLES: ReadonlySet<number> = new Set([480, 960, 1920, 2880]);

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function pcmToBuffer(pcm: Int16Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const out = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i] as number, i * 2);
  return out;
}

function bufferToPcm(buf: Uint8Array): Int16Array {
  const out = new Int16Array(buf.length >> 1);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(buf.subarray(0, out.length * 2));
  } else {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true);
  }
  return out;
}

/** Level of a PCM block in dB relative to full scale (-Infinity for digital silence). */
export function levelDbfs(pcm: Int16Array, start = 0, end = pcm.length): number {
  if (end <= start) return -Infinity;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const v = pcm[i] as number;
    sum += v * v;
  }
  const rms = Math.sqrt(sum / (end - start));
  return rms > 0 ? 20 * Math.log10(rms / 32768) : -Infinity;
}

/**
 * The loudest 5 ms block of a frame, so that a word starting in the last milliseconds of a
 * frame is not averaged away by the silence before it.
 */
export function peakBlockLevelDbfs(pcm: Int16Array): number {
  const block = PIPELINE_SAMPLE_RATE / 200;
  let peak = -Infinity;
  for (let s = 0; s < pcm.length; s += block) {
    peak = Math.max(peak, levelDbfs(pcm, s, Math.min(pcm.length, s + block)));
  }
  return peak;
}

/**
 * Samples per channel (at 48 kHz) that an Opus packet decodes to, from its TOC byte and frame
 * count (RFC 6716 section 3), or null when the packet cannot be a valid Opus packet.
 */
export function opusPacketSamples(packet: Uint8Array): number | null {
  const toc = packet[0];
  if (toc === undefined) return null;
  const config = toc >> 3;
  let frameSamples: number;
  if (config < 12) frameSamples = [480, 960, 1920, 2880][config & 3] as number;
  else if (config < 16) frameSamples = (config & 1) === 0 ? 480 : 960;
  else frameSamples = [120, 240, 480, 960][config & 3] as number;
  const code = toc & 3;
  let count: number;
  if (code === 0) count = 1;
  else if (code === 1) {
    if ((packet.length - 1) % 2 !== 0) return null;
    count = 2;
  } else if (code === 2) {
    if (packet.length < 2) return null;
    count = 2;
  } else {
    const c = packet[1];
    if (c === undefined) return null;
    count = c & 0x3f;
    if (count === 0) return null;
  }
  const total = count * frameSamples;
  return total > 5760 ? null : total;
}

/** The frame sizes (samples) a one-byte packet can ask the decoder to conceal, by TOC mode. */
function concealSizesFor(config: number): readonly { config: number; samples: number }[] {
  const base = config < 12 ? config & ~3 : config < 16 ? config & ~1 : config & ~3;
  if (config < 12) {
    return [2880, 1920, 960, 480].map((samples, i) => ({ config: base + 3 - i, samples }));
  }
  if (config < 16) return [960, 480].map((samples, i) => ({ config: base + 1 - i, samples }));
  return [960, 480, 240, 120].map((samples, i) => ({ config: base + 3 - i, samples }));
}

// ---------------------------------------------------------------------------------------------
// Discontinuous transmission (pure logic, no codec)

export interface DtxOptions {
  /** Frames quieter than this are silence whatever the noise floor (dBFS). */
  thresholdDbfs: number;
  /** Speech must also stand this far above the tracked noise floor. */
  floorMarginDb: number;
  /** The tracked noise floor never counts above this, so loud noise cannot hide speech. */
  floorCapDbfs: number;
  /** Keep sending full frames this long after the last speech frame (word gaps, decay). */
  hangoverMs: number;
  /** During silence, send one comfort-noise keep-alive this often. */
  keepAliveMs: number;
}

export const DEFAULT_DTX: DtxOptions = Object.freeze({
  thresholdDbfs: -50,
  floorMarginDb: 12,
  floorCapDbfs: -50,
  hangoverMs: 200,
  keepAliveMs: 400,
});

/** What to do with one captured frame. */
export type DtxDecision = 'speech' | 'comfort-noise' | 'suppressed';

/**
 * Decides frame by frame whether to send speech, a comfort-noise keep-alive or nothing. A frame
 * loud enough is sent at once (the decision never waits, so onsets are never clipped); silence
 * must last the hangover before transmission stops, and the first silent frame after the
 * hangover is always sent as a keep-alive so the receiver learns that the gap is DTX, not loss.
 */
export class DtxGate {
  private readonly opts: DtxOptions;
  private floorDbfs = -100;
  private silentMs = 0;
  private inDtx = false;
  private sinceKeepAliveMs = 0;

  constructor(opts: Partial<DtxOptions> = {}) {
    this.opts = { ...DEFAULT_DTX, ...opts };
  }

  get active(): boolean {
    return this.inDtx;
  }

  get noiseFloorDbfs(): number {
    return this.floorDbfs;
  }

  decide(frameLevelDbfs: number, frameMs: number): DtxDecision {
    const level = Math.max(-100, frameLevelDbfs);
    // The floor falls at once and rises slowly (2 dB/s), so speech barely moves it.
    if (level < this.floorDbfs) this.floorDbfs = level;
    else this.floorDbfs = Math.min(level, this.floorDbfs + (2 * frameMs) / 1000);
    const floor = Math.min(this.floorDbfs, this.opts.floorCapDbfs);
    const threshold = Math.max(this.opts.thresholdDbfs, floor + this.opts.floorMarginDb);

    if (level > threshold) {
      this.silentMs = 0;
      this.inDtx = false;
      return 'speech';
    }
    this.silentMs += frameMs;
    if (this.silentMs <= this.opts.hangoverMs) return 'speech';
    if (!this.inDtx) {
      this.inDtx = true;
      this.sinceKeepAliveMs = 0;
      return 'comfort-noise';
    }
    this.sinceKeepAliveMs += frameMs;
    if (this.sinceKeepAliveMs >= this.opts.keepAliveMs) {
      this.sinceKeepAliveMs = 0;
      return 'comfort-noise';
    }
    return 'suppressed';
  }

  reset(): void {
    this.silentMs = 0;
    this.inDtx = false;
    this.sinceKeepAliveMs = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder

/**
 * One encoded frame. `comfort-noise` is a real Opus frame of the background sent as a DTX
 * keep-alive: the packetizer must flag it so the receiver plays comfort noise in the gap that
 * follows instead of concealing. `suppressed` means: send nothing for this frame.
 */
export type EncodedFrame =
  | { kind: 'speech'; payload: Uint8Array; samples: number }
  | { kind: 'comfort-noise'; payload: Uint8Array; samples: number }
  | { kind: 'suppressed'; samples: number };

export interface OpusEncoderOptions {
  tier?: QualityTier;
  /** false turns DTX off (every frame is sent); an object tunes it. Default: on. */
  dtx?: boolean | Partial<DtxOptions>;
}

export interface EncoderStats {
  framesIn: number;
  packetsOut: number;
  keepAlivesOut: number;
  framesSuppressed: number;
  bytesOut: number;
}

export class OpusEncoderStage {
  private codec: OpusWasmCodec | null;
  private currentTier: QualityTier;
  private readonly gate: DtxGate | null;
  private readonly counters: EncoderStats = {
    framesIn: 0,
    packetsOut: 0,
    keepAlivesOut: 0,
    framesSuppressed: 0,
    bytesOut: 0,
  };

  constructor(opts: OpusEncoderOptions = {}) {
    this.codec = new OpusWasmCodec(PIPELINE_SAMPLE_RATE, 1, OpusWasmCodec.Application.VOIP);
    this.codec.encoderCTL(OPUS_SET_SIGNAL, OPUS_SIGNAL_VOICE);
    this.currentTier = opts.tier ?? DEFAULT_TIER;
    this.applyTier(this.currentTier);
    const dtx = opts.dtx ?? true;
    this.gate = dtx === false ? null : new DtxGate(dtx === true ? {} : dtx);
  }

  get tier(): QualityTier {
    return this.currentTier;
  }

  /** True while the encoder is in a DTX silence period. */
  get inDtx(): boolean {
    return this.gate?.active ?? false;
  }

  get stats(): Readonly<EncoderStats> {
    return { ...this.counters };
  }

  /** Switch bitrate, complexity and the expected frame size; takes effect on the next frame. */
  setTier(tier: QualityTier): void {
    this.currentTier = tier;
    this.applyTier(tier);
  }

  /**
   * Encode one frame of 48 kHz mono PCM. Its length must be a 10, 20, 40 or 60 ms frame; the
   * tier's frame size is what the capture side should deliver, but frames already captured at
   * the previous tier's size are still accepted during a switch.
   */
  encode(pcm: Int16Array): EncodedFrame {
    const codec = this.live();
    if (!VALID_FRAME_SAMPLES.has(pcm.length)) {
      throw new RangeError(`Opus frame must be 480, 960, 1920 or 2880 samples, got ${pcm.length}`);
    }
    this.counters.framesIn++;
    const samples = pcm.length;
    const decision: DtxDecision = this.gate
      ? this.gate.decide(peakBlockLevelDbfs(pcm), (samples * 1000) / PIPELINE_SAMPLE_RATE)
      : 'speech';
    if (decision === 'suppressed') {
      // Not encoding the suppressed frames keeps the encoder's state where the decoder's is:
      // both last saw the keep-alive frame.
      this.counters.framesSuppressed++;
      return { kind: 'suppressed', samples };
    }
    const payload = new Uint8Array(codec.encode(pcmToBuffer(pcm), samples));
    this.counters.packetsOut++;
    this.counters.bytesOut += payload.length;
    if (decision === 'comfort-noise') {
      this.counters.keepAlivesOut++;
      return { kind: 'comfort-noise', payload, samples };
    }
    return { kind: 'speech', payload, samples };
  }

  /** Free the WASM memory. Idempotent; encoding afterwards throws. */
  close(): void {
    if (this.codec) {
      this.codec.delete();
      this.codec = null;
    }
  }

  private applyTier(tier: QualityTier): void {
    const codec = this.live();
    codec.setBitrate(tier.bitrateBps);
    codec.encoderCTL(OPUS_SET_COMPLEXITY, tier.complexity);
  }

  private live(): OpusWasmCodec {
    if (!this.codec) throw new Error('OpusEncoderStage used after close()');
    return this.codec;
  }
}

// ---------------------------------------------------------------------------------------------
// Decoder

export interface DecodeResult {
  pcm: Int16Array;
  /** false when the packet was rejected and `pcm` is concealment instead. */
  ok: boolean;
}

export interface DecodeOptions {
  /** The packet was flagged as a DTX keep-alive: gaps after it are silence, not loss. */
  comfortNoise?: boolean;
}

export interface DecoderStats {
  packetsDecoded: number;
  packetsRejected: number;
  concealedSamples: number;
  comfortNoiseSamples: number;
}

/** Comfort noise never plays louder than this, whatever the keep-alive frame measured. */
const COMFORT_NOISE_MAX_DBFS = -45;
const CN_POLE = 0.6;
/** RMS of uniform [-1, 1) noise after the one-pole low-pass below. */
const CN_UNIT_RMS = Math.sqrt(1 / 3) * Math.sqrt((1 - CN_POLE) / (1 + CN_POLE));

export class OpusDecoderStage {
  private codec: OpusWasmCodec | null;
  private lastToc: number | null = null;
  private lastSamples: number;
  private dtx = false;
  private noiseRms = 0;
  private noiseState = 0;
  private seed = 0x9e3779b9;
  private readonly counters: DecoderStats = {
    packetsDecoded: 0,
    packetsRejected: 0,
    concealedSamples: 0,
    comfortNoiseSamples: 0,
  };

  constructor(opts: { frameSamples?: number } = {}) {
    this.codec = new OpusWasmCodec(PIPELINE_SAMPLE_RATE, 1, OpusWasmCodec.Application.VOIP);
    this.lastSamples = opts.frameSamples ?? DEFAULT_TIER.frameSamples;
  }

  get stats(): Readonly<DecoderStats> {
    return { ...this.counters };
  }

  /** True after a DTX keep-alive until the next ordinary packet. */
  get inDtx(): boolean {
    return this.dtx;
  }

  /** Samples of the last packet decoded: the size a lost frame most likely had. */
  get lastFrameSamples(): number {
    return this.lastSamples;
  }

  /**
   * Decode one packet from the network. Never throws: a malformed packet is counted and one
   * frame of concealment (of the last good frame's size) is returned instead.
   */
  decode(payload: Uint8Array, opts: DecodeOptions = {}): DecodeResult {
    const codec = this.codec;
    if (!codec) return { pcm: new Int16Array(this.lastSamples), ok: false };
    const expected = payload.length <= MAX_PACKET_BYTES ? opusPacketSamples(payload) : null;
    if (expected === null || expected > MAX_PACKET_SAMPLES) return this.reject();
    let pcm: Int16Array;
    try {
      pcm = bufferToPcm(
        codec.decode(Buffer.from(payload.buffer, payload.byteOffset, payload.length)),
      );
    } catch {
      return this.reject();
    }
    if (pcm.length !== expected) return this.reject();
    this.counters.packetsDecoded++;
    this.lastToc = payload[0] as number;
    this.lastSamples = pcm.length;
    this.dtx = opts.comfortNoise === true;
    if (this.dtx) {
      const level = Math.min(levelDbfs(pcm), COMFORT_NOISE_MAX_DBFS);
      this.noiseRms = Number.isFinite(level) ? 32768 * 10 ** (level / 20) : 0;
    }
    return { pcm, ok: true };
  }

  /**
   * Exactly `samples` of packet-loss concealment, continuing from the decoder's state. Uses a
   * one-byte packet (the last TOC with a chosen frame size and no frame data), which makes the
   * decoder run its PLC for that frame size; an empty packet would always conceal 60 ms.
   */
  conceal(samples: number = this.lastSamples): Int16Array {
    const out = new Int16Array(Math.max(0, Math.floor(samples)));
    const codec = this.codec;
    if (!codec || this.lastToc === null || out.length === 0) return out;
    const sizes = concealSizesFor(this.lastToc >> 3);
    const smallest = sizes[sizes.length - 1] as { config: number; samples: number };
    let filled = 0;
    while (filled < out.length) {
      const remaining = out.length - filled;
      const size = sizes.find((s) => s.samples <= remaining) ?? smallest;
      let chunk: Int16Array;
      try {
        chunk = bufferToPcm(
          codec.decode(Buffer.from([(size.config << 3) | (this.lastToc & 0x04)])),
        );
      } catch {
        break; // leave the rest silent; PLC of a valid TOC is not expected to fail
      }
      if (chunk.length === 0) break;
      out.set(chunk.subarray(0, remaining), filled);
      filled += Math.min(remaining, chunk.length);
    }
    this.counters.concealedSamples += out.length;
    return out;
  }

  /** `samples` of low-level noise at the background level the last keep-alive carried. */
  comfortNoise(samples: number): Int16Array {
    const out = new Int16Array(Math.max(0, Math.floor(samples)));
    if (this.noiseRms > 0) {
      const scale = this.noiseRms / CN_UNIT_RMS;
      for (let i = 0; i < out.length; i++) {
        this.seed ^= this.seed << 13;
        this.seed ^= this.seed >>> 17;
        this.seed ^= this.seed << 5;
        const white = (this.seed >>> 0) / 2147483648 - 1;
        this.noiseState = (1 - CN_POLE) * white + CN_POLE * this.noiseState;
        out[i] = Math.round(this.noiseState * scale);
      }
    }
    this.counters.comfortNoiseSamples += out.length;
    return out;
  }

  /** What to play for a frame that did not arrive: comfort noise during DTX, else concealment. */
  fillGap(samples: number = this.lastSamples): Int16Array {
    return this.dtx ? this.comfortNoise(samples) : this.conceal(samples);
  }

  /** Free the WASM memory. Idempotent; afterwards decode() returns silence and ok: false. */
  close(): void {
    if (this.codec) {
      this.codec.delete();
      this.codec = null;
    }
  }

  private reject(): DecodeResult {
    this.counters.packetsRejected++;
    return { pcm: this.conceal(this.lastSamples), ok: false };
  }
}
