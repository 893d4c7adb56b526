// Owns the ITU-T G.107 E-model: the transmission rating R from one-way delay, packet loss (with
// burstiness) and codec impairment, and the mapping from R to an estimated MOS (Annex B). The
// benchmarks and the call stats use it to turn measured delay and loss into one quality figure.
//
// We compute the full G.107 chain (Ro, Is, Id = Idte + Idle + Idd, Ie-eff) with the standard's
// default terminal values rather than the common "R = 93.2 - Id - Ie" shortcut, so a change in
// delay moves the echo terms too and the default R of 93.2 comes out of the formulas, not out of
// a constant. We stay on the narrowband scale (R <= ~93.2) as G.107 defines it; the wideband
// scale of G.107.1 (R up to 129) would need wideband Ie values that do not exist for Opus.

/** G.107 parameters of the terminals, the room and the connection other than delay and loss. */
export interface TerminalParams {
  /** Send loudness rating, dB. */
  slr: number;
  /** Receive loudness rating, dB. */
  rlr: number;
  /** Sidetone masking rating, dB. */
  stmr: number;
  /** Listener sidetone rating, dB. */
  lstr: number;
  /** D-value of the telephone, send side. */
  ds: number;
  /** Talker echo loudness rating, dB (65 = echo well cancelled). */
  telr: number;
  /** Weighted echo path loss, dB. */
  wepl: number;
  /** Number of quantisation distortion units. */
  qdu: number;
  /** Circuit noise referred to the 0 dBr point, dBm0p. */
  nc: number;
  /** Noise floor at the receive side, dBmp. */
  nfor: number;
  /** Room noise at the send side, dB(A). */
  ps: number;
  /** Room noise at the receive side, dB(A). */
  pr: number;
  /** Advantage factor A (0 for wired; users accept nothing extra for a softphone). */
  a: number;
  /** Delay sensitivity sT and minimum perceivable delay mT of Idd (G.107 2011+). */
  sT: number;
  mT: number;
}

/** G.107 Table 1 default values. */
export const G107_DEFAULTS: Readonly<TerminalParams> = Object.freeze({
  slr: 8,
  rlr: 2,
  stmr: 15,
  lstr: 18,
  ds: 3,
  telr: 65,
  wepl: 110,
  qdu: 1,
  nc: -70,
  nfor: -64,
  ps: 35,
  pr: 35,
  a: 0,
  sT: 1,
  mT: 100,
});

/** A codec's equipment impairment factor Ie and packet-loss robustness factor Bpl. */
export interface CodecImpairment {
  ie: number;
  bpl: number;
}

export interface EModelInput {
  /** One-way mouth-to-ear delay Ta in ms (capture, encoding, network, jitter buffer, playout). */
  delayMs: number;
  /**
   * Packet loss Ppl in percent as the decoder sees it: the RESIDUAL loss after packet FEC has
   * recovered what it could (frames concealed / frames due). Concealment itself is in Bpl.
   */
  lossPct: number;
  /** BurstR: 1 for random loss, > 1 for bursty loss (see burstRatioOf). Default 1. */
  burstRatio?: number;
  codec: CodecImpairment;
  /** Terminal parameters other than the G.107 defaults. */
  terminal?: Partial<TerminalParams>;
}

// Opus on the narrowband E-model scale. No ITU-T table lists Opus; these are estimates from
// published listening tests (Rämö & Toukomaa 2011, "Voice quality characterization of IETF Opus
// codec"; Opus at 24 kbit/s and above rated at or above the reference, 8-12 kbit/s between AMR-NB
// and AMR-WB, i.e. Ie of a few points to ~10) and follow the G.113 pattern for modern codecs.
// Points are (bitrate kbit/s, Ie); between them Ie is interpolated in log(bitrate).
const OPUS_IE: readonly (readonly [number, number])[] = [
  [6, 11],
  [10, 8],
  [16, 4],
  [24, 2],
  [32, 0],
];

// Bpl: Opus's packet loss concealment is better than G.711 Appendix I (Bpl 25.1 at 10 ms) per
// lost packet, but a lost packet carries more speech when frames are long, so robustness per
// lost packet falls with frame duration.
const OPUS_BPL: Readonly<Record<10 | 20 | 40 | 60, number>> = { 10: 25, 20: 20, 40: 15, 60: 12 };

/** Estimated Ie and Bpl for Opus at a bitrate (bits per second) and frame duration. */
export function opusImpairment(bitrateBps: number, frameMs: 10 | 20 | 40 | 60): CodecImpairment {
  const kbps = Math.max(1, bitrateBps / 1000);
  const first = OPUS_IE[0] as readonly [number, number];
  const last = OPUS_IE[OPUS_IE.length - 1] as readonly [number, number];
  let ie: number;
  if (kbps <= first[0]) ie = first[1];
  else if (kbps >= last[0]) ie = last[1];
  else {
    ie = last[1];
    for (let i = 1; i < OPUS_IE.length; i++) {
      const [k1, v1] = OPUS_IE[i] as readonly [number, number];
      const [k0, v0] = OPUS_IE[i - 1] as readonly [number, number];
      if (kbps <= k1) {
        const f = Math.log(kbps / k0) / Math.log(k1 / k0);
        ie = v0 + (v1 - v0) * f;
        break;
      }
    }
  }
  return { ie, bpl: OPUS_BPL[frameMs] };
}

const log10 = Math.log10;
const nonNeg = (x: number): number => (Number.isFinite(x) && x > 0 ? x : 0);

/** Basic signal-to-noise ratio Ro and simultaneous impairment Is (delay enters via STMRo). */
function roAndIs(p: TerminalParams, t: number): { ro: number; is: number; no: number } {
  const olr = p.slr + p.rlr;
  const nos = p.ps - p.slr - p.ds - 100 + 0.004 * (p.ps - olr - p.ds - 14) ** 2;
  const pre = p.pr + 10 * log10(1 + 10 ** ((10 - p.lstr) / 10));
  const nor = p.rlr - 121 + pre + 0.008 * (pre - 35) ** 2;
  const nfo = p.nfor + p.rlr;
  const no = 10 * log10(10 ** (p.nc / 10) + 10 ** (nos / 10) + 10 ** (nor / 10) + 10 ** (nfo / 10));
  const ro = 15 - 1.5 * (p.slr + no);

  const xolr = olr + 0.2 * (64 + no - p.rlr);
  const iolr = 20 * ((1 + (xolr / 8) ** 8) ** (1 / 8) - xolr / 8);
  const ist = sidetoneImpairment(p, t);
  const q = 37 - 15 * log10(p.qdu);
  const g = 1.07 + 0.258 * q + 0.0602 * q * q;
  const y = (ro - 100) / 15 + 46 / 8.4 - g / 9;
  const z = 46 / 30 - g / 40;
  const iq = 15 * log10(1 + 10 ** y + 10 ** z);
  return { ro, is: iolr + ist + iq, no };
}

/** G.107's Ist (non-optimum sidetone), used by Is and by the talker echo term. */
function sidetoneImpairment(p: TerminalParams, t: number): number {
  const stmro = -10 * log10(10 ** (-p.stmr / 10) + Math.exp(-t / 4) * 10 ** (-p.telr / 10));
  return (
    12 * (1 + ((stmro - 13) / 6) ** 8) ** (1 / 8) -
    28 * (1 + ((stmro + 1) / 19.4) ** 35) ** (1 / 35) -
    13 * (1 + ((stmro - 3) / 33) ** 13) ** (1 / 13) +
    29
  );
}

/** Delay impairment Id = Idte + Idle + Idd, with T = Ta and Tr = 2 Ta (a four-wire VoIP path). */
function delayImpairment(p: TerminalParams, ta: number, ro: number, no: number): number {
  const t = ta;
  const tr = 2 * ta;
  // Talker echo.
  let terv = p.telr - 40 * log10((1 + t / 10) / (1 + t / 150)) + 6 * Math.exp(-0.3 * t * t);
  const ist = sidetoneImpairment(p, t);
  if (p.stmr < 9) terv += ist / 2;
  const roe = -1.5 * (no - p.rlr);
  const re = 80 + 2.5 * (terv - 14);
  // For T under about 2 ms the bracket is slightly negative (echo would "improve" R by up to
  // 0.06): an artifact of the fit, clamped so that R never rises with delay.
  let idte = Math.max(
    0,
    ((roe - re) / 2 + Math.sqrt((roe - re) ** 2 / 4 + 100) - 1) * (1 - Math.exp(-t)),
  );
  if (p.stmr > 20) idte = Math.sqrt(idte * idte + ist * ist);
  // Listener echo.
  const rle = 10.5 * (p.wepl + 7) * (tr + 1) ** -0.25;
  const idle = (ro - rle) / 2 + Math.sqrt((ro - rle) ** 2 / 4 + 169);
  // Pure (absolute) delay: only beyond mT.
  let idd = 0;
  if (ta > p.mT) {
    const x = Math.log(ta / p.mT) / Math.log(2);
    const e = 6 * p.sT;
    idd = 25 * ((1 + x ** e) ** (1 / e) - 3 * (1 + (x / 3) ** e) ** (1 / e) + 2);
  }
  return idte + idle + idd;
}

/** Effective equipment impairment Ie-eff = Ie + (95 - Ie) * Ppl / (Ppl / BurstR + Bpl). */
export function ieEff(codec: CodecImpairment, lossPct: number, burstRatio = 1): number {
  const ppl = Math.min(100, nonNeg(lossPct));
  const burstR = Number.isFinite(burstRatio) && burstRatio >= 1 ? burstRatio : 1;
  return codec.ie + ((95 - codec.ie) * ppl) / (ppl / burstR + codec.bpl);
}

/** The transmission rating R (G.107 narrowband scale; about 93.2 for a perfect connection). */
export function rFactor(input: EModelInput): number {
  const p: TerminalParams = { ...G107_DEFAULTS, ...input.terminal };
  const ta = nonNeg(input.delayMs);
  const { ro, is, no } = roAndIs(p, ta);
  const id = delayImpairment(p, ta, ro, no);
  return ro - is - id - ieEff(input.codec, input.lossPct, input.burstRatio) + p.a;
}

/**
 * G.107 Annex B: estimated MOS (conversational quality) from R. The cubic dips below 1 for
 * R < 6.5; we clamp it to the 1..4.5 scale, which also keeps the mapping monotone.
 */
export function mosFromR(r: number): number {
  if (Number.isNaN(r) || r <= 0) return 1;
  if (r >= 100) return 4.5;
  return Math.max(1, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6);
}

/** MOS straight from delay, loss and codec. */
export function estimateMos(input: EModelInput): number {
  return mosFromR(rFactor(input));
}

/**
 * BurstR from a loss trace (true = lost): the mean observed loss-burst length divided by the
 * mean burst length random loss at the same rate would give, 1 / (1 - p). Equals 1/(p+q) for a
 * two-state Markov (Gilbert) loss process, which is how G.107 defines it. 1 when nothing or
 * everything is lost.
 */
export function burstRatioOf(lost: readonly boolean[]): number {
  let losses = 0;
  let bursts = 0;
  let prev = false;
  for (const l of lost) {
    if (l) {
      losses++;
      if (!prev) bursts++;
    }
    prev = l;
  }
  if (losses === 0 || losses === lost.length) return 1;
  const p = losses / lost.length;
  return Math.max(1, losses / bursts / (1 / (1 - p)));
}
