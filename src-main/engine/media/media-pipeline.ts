// The voice path of one call, both directions, without sockets or timers: the sender turns 20 ms
// microphone frames into sealed media packets (Opus with DTX → packet with RED-style FEC →
// ChaCha20-Poly1305 with the clear header as AAD); the receiver opens packets, recovers lost
// frames from redundancy, feeds the jitter buffer, and hands out exactly 20 ms of PCM per pull
// (decoding, concealing a gap, or comfort noise in a DTX pause). The caller owns time.
import type { FrameOpener, FrameSealer } from './frame-cipher.ts';
import { DEFAULT_FEC_OFFSETS, FecDecoder, FecEncoder } from './fec.ts';
import { JitterBuffer, type JitterBufferOptions, type JitterBufferStats } from './jitter-buffer.ts';
import { FLAG_DTX, splitMediaPacket, type FecDepth, type FrameDurationMs } from './media-packet.ts';
import { OpusDecoderStage, OpusEncoderStage } from './opus-codec.ts';
import { DEFAULT_TIER, type QualityTier } from './quality-tiers.ts';

export const SLICE_SAMPLES = 960;
/**
 * The call's jitter buffer: a 10 ms floor and a 20 ms start on a clean path, and shrinking down to
 * about a frame above target while no FEC floor is set (issue 12: libwebrtc holds about 28 ms
 * where the buffer's generic defaults held 50-65).
 */
const CALL_JITTER: JitterBufferOptions = {
  minDelayMs: 10,
  initialDelayMs: 20,
  cleanShrinkMarginMs: 2,
};
/** How long after the last loss the receiver keeps waiting for FEC copies. */
const LOSS_MEMORY_MS = 20_000;
/** How long a new stream is treated as lossy before it has shown itself clean. */
const PROBATION_MS = 1000;

/**
 * Instantiate the Opus WASM module and run one frame through it. The first encoder costs tens
 * of ms; paid at call start it stalls the event loop just as media begins, which the jitter
 * buffer then reads as network jitter. Hosts call this once at start-up.
 */
export function prewarmMediaCodecs(): void {
  const encoder = new OpusEncoderStage({ dtx: false });
  const decoder = new OpusDecoderStage();
  const frame = encoder.encode(new Int16Array(DEFAULT_TIER.frameSamples));
  if (frame.kind !== 'suppressed') decoder.decode(frame.payload);
  encoder.close();
  decoder.close();
}

export interface SenderStats {
  framesIn: number;
  packetsSent: number;
  bytesSent: number;
  framesSuppressed: number;
  sealFailures: number;
}

/** Microphone side: PCM in, sealed packets out. */
export class MediaSender {
  readonly stats: SenderStats = {
    framesIn: 0,
    packetsSent: 0,
    bytesSent: 0,
    framesSuppressed: 0,
    sealFailures: 0,
  };
  readonly #encoder: OpusEncoderStage;
  readonly #fec = new FecEncoder();
  readonly #sealer: FrameSealer;
  #tier: QualityTier;
  #pendingTier: QualityTier | null = null;
  #fecDepthFloor: FecDepth = 0;
  #buffer: Int16Array;
  #buffered = 0;
  #seq = 0;
  #timestamp = 0;
  #muted = false;

  constructor(opts: {
    sealer: FrameSealer;
    tier?: QualityTier;
    dtx?: boolean;
    initialSeq?: number;
  }) {
    this.#tier = opts.tier ?? DEFAULT_TIER;
    this.#encoder = new OpusEncoderStage({ tier: this.#tier, dtx: opts.dtx ?? true });
    this.#sealer = opts.sealer;
    this.#buffer = new Int16Array(this.#tier.frameSamples);
    this.#seq = opts.initialSeq ?? 0;
  }

  get tier(): QualityTier {
    return this.#pendingTier ?? this.#tier;
  }

  /** The sequence number the next packet will carry. */
  get nextSeq(): number {
    return this.#seq;
  }

  get muted(): boolean {
    return this.#muted;
  }

  /** Muted frames are encoded as silence, so DTX keeps only a trickle of keep-alives flowing. */
  setMuted(muted: boolean): void {
    this.#muted = muted;
  }

  /** Takes effect at the next frame boundary (frames of 40/60 ms are never cut). */
  setTier(tier: QualityTier): void {
    if (tier.id === this.#tier.id) {
      this.#pendingTier = null;
      return;
    }
    this.#pendingTier = tier;
    if (this.#buffered === 0) this.#applyTier();
  }

  /** Redundancy at least this deep whatever the tier says (raised when the peer reports loss). */
  setFecDepthFloor(depth: FecDepth): void {
    this.#fecDepthFloor = depth;
  }

  get fecDepth(): FecDepth {
    return Math.max(this.#tier.fecDepth, this.#fecDepthFloor) as FecDepth;
  }

  /** One 20 ms slice of microphone PCM; returns the packets to send now (zero or one). */
  push(slice: Int16Array): Uint8Array[] {
    if (slice.length !== SLICE_SAMPLES)
      throw new RangeError(`expected ${SLICE_SAMPLES} samples, got ${slice.length}`);
    this.stats.framesIn++;
    if (this.#muted) this.#buffer.fill(0, this.#buffered, this.#buffered + SLICE_SAMPLES);
    else this.#buffer.set(slice, this.#buffered);
    this.#buffered += SLICE_SAMPLES;
    if (this.#buffered < this.#tier.frameSamples) return [];
    const frame = this.#buffer;
    this.#buffered = 0;
    const out = this.#encodeFrame(frame);
    if (this.#pendingTier) this.#applyTier();
    return out;
  }

  close(): void {
    this.#encoder.close();
  }

  #encodeFrame(pcm: Int16Array): Uint8Array[] {
    const encoded = this.#encoder.encode(pcm);
    const timestamp = this.#timestamp;
    this.#timestamp = (this.#timestamp + pcm.length) >>> 0;
    if (encoded.kind === 'suppressed') {
      this.stats.framesSuppressed++;
      return [];
    }
    const seq = this.#seq;
    const packet = this.#fec.encode(
      {
        seq,
        timestamp,
        durationMs: this.#tier.frameMs as FrameDurationMs,
        payload: encoded.payload,
        tier: this.#tier.id,
        flags: encoded.kind === 'comfort-noise' ? FLAG_DTX : 0,
      },
      this.fecDepth,
    );
    const sealed = this.#sealer.seal(seq, packet.headerBytes, packet.bodyBytes);
    if (!sealed.ok) {
      this.stats.sealFailures++;
      return [];
    }
    this.#seq = (this.#seq + 1) >>> 0;
    const wire = new Uint8Array(packet.headerBytes.length + sealed.sealed.length);
    wire.set(packet.headerBytes, 0);
    wire.set(sealed.sealed, packet.headerBytes.length);
    this.stats.packetsSent++;
    this.stats.bytesSent += wire.length;
    return [wire];
  }

  #applyTier(): void {
    const tier = this.#pendingTier;
    if (!tier) return;
    this.#pendingTier = null;
    this.#tier = tier;
    this.#encoder.setTier(tier);
    if (this.#buffer.length !== tier.frameSamples) this.#buffer = new Int16Array(tier.frameSamples);
  }
}

export type ReceiveOutcome = 'accepted' | 'malformed' | 'undecryptable' | 'duplicate' | 'late';

export interface ReceiverStats {
  packetsReceived: number;
  packetsMalformed: number;
  packetsUndecryptable: number;
  /** Frames (not slices) that played from the network, and that were concealed. */
  framesPlayed: number;
  framesConcealed: number;
  framesRecovered: number;
  framesLate: number;
  duplicates: number;
  /** Highest sequence number seen and how many distinct packets arrived, for loss estimates. */
  highestSeq: number | null;
  peerTier: number | null;
  /** RFC 3550 interarrival jitter of accepted packets, from their media timestamps, ms. */
  interarrivalJitterMs: number;
  jitter: JitterBufferStats;
}

/** Loudspeaker side: sealed packets in, 20 ms PCM slices out. */
export class MediaReceiver {
  readonly #opener: FrameOpener;
  readonly #fec = new FecDecoder();
  readonly #jitter: JitterBuffer;
  readonly #decoder = new OpusDecoderStage();
  #fifo = new Int16Array(0);
  #packets = 0;
  #malformed = 0;
  #undecryptable = 0;
  #played = 0;
  #concealed = 0;
  #highestSeq: number | null = null;
  #peerTier: number | null = null;
  #peerFecDepth = -1;
  #started = false;
  #interarrivalJitterMs = 0;
  #lastTransit: number | null = null;
  /** The delay the peer's FEC needs to be useful, applied only while loss is being seen. */
  #fecFloorMs = 0;
  #lossSeenAtMs = -Infinity;
  #appliedFloorMs = -1;

  constructor(opts: { opener: FrameOpener; jitter?: JitterBufferOptions }) {
    this.#opener = opts.opener;
    this.#jitter = new JitterBuffer({ ...CALL_JITTER, ...opts.jitter });
  }

  receive(packet: Uint8Array, arrivalMs: number): ReceiveOutcome {
    const split = splitMediaPacket(packet);
    if (!split.ok) {
      this.#malformed++;
      return 'malformed';
    }
    const { header, headerBytes, bodyBytes } = split.value;
    const opened = this.#opener.open(header.seq, headerBytes, bodyBytes);
    if (!opened.ok) {
      if (opened.reason === 'duplicate' || opened.reason === 'too-old') return 'duplicate';
      this.#undecryptable++;
      return 'undecryptable';
    }
    const frames = this.#fec.receive(header, opened.payload);
    if (!frames.ok) {
      this.#malformed++;
      return 'malformed';
    }
    this.#packets++;
    this.#started = true;
    this.#peerTier = header.tier;
    // Until the path has shown itself for a moment, assume it may lose packets.
    if (this.#highestSeq === null) this.#lossSeenAtMs = arrivalMs - LOSS_MEMORY_MS + PROBATION_MS;
    if (this.#highestSeq === null || ((header.seq - this.#highestSeq) | 0) > 0) {
      // A jump past the next number: a packet is missing (lost, or reordered).
      if (this.#highestSeq !== null && ((header.seq - this.#highestSeq) | 0) > 1)
        this.#lossSeenAtMs = arrivalMs;
      this.#highestSeq = header.seq;
    }
    if (header.fecDepth !== this.#peerFecDepth) {
      // A copy at offset d helps only if the buffer can wait d frames for it.
      this.#peerFecDepth = header.fecDepth;
      const farthest =
        header.fecDepth === 0 ? 0 : (DEFAULT_FEC_OFFSETS[header.fecDepth].at(-1) ?? 0);
      this.#fecFloorMs = (farthest + 1) * header.durationMs;
    }
    // As NetEq does, wait for redundancy only once loss is seen: a clean path plays at the
    // jitter buffer's own target, and the floor goes again after a quiet spell.
    const floor = arrivalMs - this.#lossSeenAtMs < LOSS_MEMORY_MS ? this.#fecFloorMs : 0;
    if (floor !== this.#appliedFloorMs) {
      this.#appliedFloorMs = floor;
      this.#jitter.setMinimumDelay(floor);
    }
    let outcome: ReceiveOutcome = 'duplicate';
    for (const f of frames.value) {
      const r = this.#jitter.push(f, arrivalMs);
      if (r === 'accepted' && !f.recovered) outcome = 'accepted';
      else if (r === 'late' && !f.recovered && outcome !== 'accepted') outcome = 'late';
    }
    if (outcome === 'accepted') this.#recordTransit(arrivalMs - header.timestamp / 48);
    return outcome;
  }

  #recordTransit(transit: number): void {
    if (this.#lastTransit !== null) {
      const d = Math.abs(transit - this.#lastTransit);
      // A jump of a second or more is a stream restart or a DTX pause, not jitter.
      if (d < 1000) this.#interarrivalJitterMs += (d - this.#interarrivalJitterMs) / 16;
    }
    this.#lastTransit = transit;
  }

  /** Exactly 20 ms of audio to play now. */
  pull(nowMs: number): Int16Array {
    while (this.#fifo.length < SLICE_SAMPLES) {
      this.#append(this.#nextAudio(nowMs));
    }
    const out = this.#fifo.slice(0, SLICE_SAMPLES);
    this.#fifo = this.#fifo.subarray(SLICE_SAMPLES);
    return out;
  }

  get stats(): ReceiverStats {
    const j = this.#jitter.stats;
    return {
      packetsReceived: this.#packets,
      packetsMalformed: this.#malformed,
      packetsUndecryptable: this.#undecryptable,
      framesPlayed: this.#played,
      framesConcealed: this.#concealed,
      framesRecovered: j.recovered,
      framesLate: j.late,
      duplicates: j.duplicates,
      highestSeq: this.#highestSeq,
      peerTier: this.#peerTier,
      interarrivalJitterMs: this.#interarrivalJitterMs,
      jitter: j,
    };
  }

  close(): void {
    this.#decoder.close();
  }

  #nextAudio(nowMs: number): Int16Array {
    const item = this.#jitter.pull(nowMs);
    if (item.kind === 'frame') {
      this.#played++;
      return this.#decoder.decode(item.frame.payload, { comfortNoise: item.frame.dtx === true })
        .pcm;
    }
    if (item.kind === 'conceal') {
      this.#concealed++;
      return this.#decoder.conceal(item.durationSamples);
    }
    if (!this.#started) return new Int16Array(item.durationSamples);
    return this.#decoder.inDtx
      ? this.#decoder.comfortNoise(item.durationSamples)
      : new Int16Array(item.durationSamples);
  }

  #append(pcm: Int16Array): void {
    if (pcm.length === 0) {
      this.#append(new Int16Array(SLICE_SAMPLES));
      return;
    }
    const next = new Int16Array(this.#fifo.length + pcm.length);
    next.set(this.#fifo, 0);
    next.set(pcm, this.#fifo.length);
    this.#fifo = next;
  }
}
