// Owns the quality tier table: the one list of (bitrate, frame duration, FEC depth, complexity)
// combinations that the adaptive quality controller may switch between and that the Opus encoder
// applies. Both ends of a call refer to a tier by its small integer id on the wire, so the table
// is append-only in spirit: changing an existing row changes what a peer's proposal means.

/** Sample rate of everything inside the media pipeline. */
export const PIPELINE_SAMPLE_RATE = 48_000;

/** Opus frame durations this pipeline uses (Opus also allows 2.5 and 5 ms; we never want them). */
export type FrameMs = 10 | 20 | 40 | 60;

export interface QualityTier {
  /** Wire id, 0 = lowest quality; ids are contiguous and ordered by bitrate. */
  readonly id: number;
  /** Human label for stats and logs. */
  readonly label: string;
  /** Target Opus bitrate in bits per second (payload only, before FEC, crypto and UDP). */
  readonly bitrateBps: number;
  /** Opus frame duration. Longer frames at the low tiers cut per-packet overhead on bad paths. */
  readonly frameMs: FrameMs;
  /** Samples per frame at 48 kHz (frameMs * 48). */
  readonly frameSamples: number;
  /**
   * Packet-level FEC depth 0..3: how much redundancy the FEC stage adds (0 = none, 3 = most).
   * The low tiers exist for lossy paths, so they carry the most.
   */
  readonly fecDepth: 0 | 1 | 2 | 3;
  /** Opus encoder complexity 0..10. */
  readonly complexity: number;
}

function tier(
  id: number,
  bitrateKbps: number,
  frameMs: FrameMs,
  fecDepth: QualityTier['fecDepth'],
  complexity: number,
): QualityTier {
  return Object.freeze({
    id,
    label: `${bitrateKbps}k/${frameMs}ms`,
    bitrateBps: bitrateKbps * 1000,
    frameMs,
    frameSamples: (PIPELINE_SAMPLE_RATE / 1000) * frameMs,
    fecDepth,
    complexity,
  });
}

// Complexity barely changes CPU at these rates with the WASM build (measured 170-400 µs per
// 20 ms either way), so the low tiers, where every bit counts, get the best the encoder has.
export const QUALITY_TIERS: readonly QualityTier[] = Object.freeze([
  tier(0, 6, 60, 3, 10),
  tier(1, 10, 40, 3, 10),
  tier(2, 16, 20, 2, 10),
  tier(3, 24, 20, 1, 9),
  tier(4, 32, 20, 1, 9),
  tier(5, 48, 20, 0, 8),
  tier(6, 64, 20, 0, 8),
]);

export const MIN_TIER_ID = 0;
export const MAX_TIER_ID = QUALITY_TIERS.length - 1;
/** Where a call starts: good speech quality at a rate nearly every path carries. */
export const DEFAULT_TIER_ID = 3;

/** The tier with this id, or undefined for an id that is not in the table (e.g. from a peer). */
export function tierById(id: number): QualityTier | undefined {
  if (!Number.isInteger(id) || id < MIN_TIER_ID || id > MAX_TIER_ID) return undefined;
  return QUALITY_TIERS[id];
}

export function isTierId(id: unknown): id is number {
  return typeof id === 'number' && tierById(id) !== undefined;
}

export const DEFAULT_TIER: QualityTier = QUALITY_TIERS[DEFAULT_TIER_ID] as QualityTier;

/** The id clamped into the table (for a controller stepping up or down). */
export function clampTierId(id: number): number {
  if (Number.isNaN(id)) return DEFAULT_TIER_ID;
  return Math.min(MAX_TIER_ID, Math.max(MIN_TIER_ID, Math.round(id)));
}
