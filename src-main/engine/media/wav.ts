// Owns WAV file input and output for the pipeline: any common WAV (8/16/24/32-bit integer,
// 32/64-bit float, A-law, mu-law, IMA ADPCM; any rate; mono, stereo or more channels) in, as
// 48 kHz mono 16-bit PCM; 48 kHz mono 16-bit WAV out, either at once or streamed frame by frame
// for recording long calls. Parsing goes through wavefile; errors are WavError with a one-line
// message the CLI prints as is.
import {
  closeSync,
  constants,
  fstatSync,
  openSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import wavefile from 'wavefile';
import { FileInputError, readBoundedFile } from '../base/bounded-file.ts';
import { PIPELINE_SAMPLE_RATE } from './quality-tiers.ts';
import { resample } from './resampler.ts';

export type WavErrorCode =
  'not-found' | 'unreadable' | 'too-large' | 'corrupt' | 'unsupported' | 'write-failed';

export class WavError extends Error {
  readonly code: WavErrorCode;
  constructor(code: WavErrorCode, message: string) {
    super(message.replace(/\s*\n\s*/g, ' '));
    this.name = 'WavError';
    this.code = code;
  }
}

export interface DecodedWav {
  /** Mono, 16-bit, at 48 kHz. */
  samples: Int16Array;
  sourceRate: number;
  sourceChannels: number;
  /** wavefile's bit depth code: '8', '16', '24', '32', '32f', '64', '8a', '8m', '4', ... */
  sourceBitDepth: string;
}

/** The fields of wavefile's parsed 'fmt ' chunk we read (its typings say only `object`). */
interface FmtChunk {
  audioFormat: number;
  numChannels: number;
  sampleRate: number;
  bitsPerSample: number;
  subformat: number[];
}

function isFmtChunk(v: unknown): v is FmtChunk {
  if (typeof v !== 'object' || v === null) return false;
  const f = v as Record<string, unknown>;
  return (
    typeof f.audioFormat === 'number' &&
    typeof f.numChannels === 'number' &&
    typeof f.sampleRate === 'number' &&
    typeof f.bitsPerSample === 'number'
  );
}

function firstLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_FLOAT = 3;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_IMA_ADPCM = 17;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Decode WAV bytes to 48 kHz mono 16-bit PCM. `name` only labels error messages. */
export function decodeWav(bytes: Uint8Array, name = 'WAV data'): DecodedWav {
  const wav = new wavefile.WaveFile();
  try {
    wav.fromBuffer(bytes);
  } catch (e) {
    throw new WavError('corrupt', `${name} is not a valid WAV file (${firstLine(e)})`);
  }
  const fmt: unknown = wav.fmt;
  if (!isFmtChunk(fmt)) throw new WavError('corrupt', `${name} has no usable 'fmt ' chunk`);
  const { numChannels: channels, sampleRate: rate } = fmt;
  if (!Number.isInteger(channels) || channels < 1 || channels > 32) {
    throw new WavError('unsupported', `${name}: ${channels} channels is not supported`);
  }
  if (!Number.isInteger(rate) || rate < 4000 || rate > 384_000) {
    throw new WavError('unsupported', `${name}: sample rate ${rate} Hz is not supported`);
  }
  const format =
    fmt.audioFormat !== WAVE_FORMAT_EXTENSIBLE
      ? fmt.audioFormat
      : Array.isArray(fmt.subformat) && typeof fmt.subformat[0] === 'number'
        ? fmt.subformat[0]
        : -1;
  const sourceBitDepth = wav.bitDepth;
  try {
    if (format === WAVE_FORMAT_ALAW) wav.fromALaw('16');
    else if (format === WAVE_FORMAT_MULAW) wav.fromMuLaw('16');
    else if (format === WAVE_FORMAT_IMA_ADPCM) wav.fromIMAADPCM('16');
    else if (format !== WAVE_FORMAT_PCM && format !== WAVE_FORMAT_FLOAT) {
      throw new WavError(
        'unsupported',
        `${name}: WAV format code ${format} is not supported (use PCM or float)`,
      );
    }
  } catch (e) {
    if (e instanceof WavError) throw e;
    throw new WavError('corrupt', `${name}: cannot decode compressed audio (${firstLine(e)})`);
  }
  // Compressed formats were converted to 16-bit integer PCM above.
  const compressed = format !== WAVE_FORMAT_PCM && format !== WAVE_FORMAT_FLOAT;
  const bits = compressed ? 16 : fmt.bitsPerSample;
  const isFloat = format === WAVE_FORMAT_FLOAT;
  if (isFloat ? bits !== 32 && bits !== 64 : ![8, 16, 24, 32].includes(bits)) {
    throw new WavError(
      'unsupported',
      `${name}: ${bits}-bit ${isFloat ? 'float' : 'integer'} samples are not supported`,
    );
  }
  const data: unknown = (wav.data as { samples?: unknown }).samples;
  if (!(data instanceof Uint8Array)) throw new WavError('corrupt', `${name} has no 'data' chunk`);
  // Read the samples ourselves: wavefile takes 32-bit WAVE_FORMAT_EXTENSIBLE float for integers.
  const mono = downmix(data, channels, bits, isFloat, wav.container === 'RIFX');
  const samples = rate === PIPELINE_SAMPLE_RATE ? mono : resample(mono, rate, PIPELINE_SAMPLE_RATE);
  return { samples, sourceRate: rate, sourceChannels: channels, sourceBitDepth };
}

/** Interleaved raw samples -> mono 16-bit: average of the channels, rounded and clipped. */
function downmix(
  data: Uint8Array,
  channels: number,
  bits: number,
  isFloat: boolean,
  bigEndian: boolean,
): Int16Array {
  const bytesPer = bits / 8;
  const frames = Math.floor(data.length / (bytesPer * channels));
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const le = !bigEndian;
  const read = (at: number): number => {
    if (isFloat) return bits === 32 ? view.getFloat32(at, le) : view.getFloat64(at, le);
    switch (bits) {
      case 8:
        return (view.getUint8(at) - 128) / 128; // WAV's 8-bit is unsigned
      case 16:
        return view.getInt16(at, le) / 32768;
      case 24: {
        const b0 = view.getUint8(le ? at : at + 2);
        const b1 = view.getUint8(at + 1);
        const b2 = view.getInt8(le ? at + 2 : at);
        return ((b2 << 16) | (b1 << 8) | b0) / 8388608;
      }
      default:
        return view.getInt32(at, le) / 2147483648;
    }
  };
  const mono = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read((i * channels + c) * bytesPer);
    const v = Math.round((sum / channels) * 32768);
    // NaN (a corrupt float file) becomes silence rather than poisoning the resampler.
    mono[i] = Number.isNaN(v) ? 0 : v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return mono;
}

/**
 * The largest WAV file read whole: about 11 minutes of 48 kHz stereo 16-bit, or an hour of
 * 16 kHz mono. Decoding takes a few times the file's size in memory, so this bounds that too.
 */
export const MAX_WAV_FILE_BYTES = 128_000_000;

/** Read a WAV file as 48 kHz mono 16-bit PCM (downmixed and resampled as needed). */
export function readWav(path: string, maxBytes = MAX_WAV_FILE_BYTES): DecodedWav {
  let bytes: Uint8Array;
  try {
    bytes = readBoundedFile(path, maxBytes);
  } catch (e) {
    if (!(e instanceof FileInputError)) throw e;
    if (e.kind === 'missing') throw new WavError('not-found', `WAV file not found: ${path}`);
    if (e.kind === 'too-large') throw new WavError('too-large', `WAV file ${e.message}`);
    throw new WavError('unreadable', `WAV file: ${e.message}`);
  }
  return decodeWav(bytes, path);
}

const HEADER_BYTES = 44;
/** The RIFF size fields are 32-bit: stop before they overflow (about 12 h at 48 kHz mono). */
const MAX_DATA_BYTES = 0xffffffff - HEADER_BYTES;

function wavHeader(dataBytes: number, rate: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(rate, 24);
  h.writeUInt32LE(rate * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

function pcmBytes(pcm: Int16Array): Buffer {
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i] as number, i * 2);
  return b;
}

/** 16-bit mono WAV bytes (48 kHz unless told otherwise). */
export function encodeWav(pcm: Int16Array, rate = PIPELINE_SAMPLE_RATE): Uint8Array {
  if (pcm.length * 2 > MAX_DATA_BYTES)
    throw new WavError('unsupported', 'audio too long for a WAV file');
  return Buffer.concat([wavHeader(pcm.length * 2, rate), pcmBytes(pcm)]);
}

export function writeWav(path: string, pcm: Int16Array, rate = PIPELINE_SAMPLE_RATE): void {
  try {
    writeFileSync(path, encodeWav(pcm, rate));
  } catch (e) {
    if (e instanceof WavError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new WavError('write-failed', `cannot write WAV file ${path}: ${code ?? firstLine(e)}`);
  }
}

const WRITE_FLAGS =
  constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_NONBLOCK ?? 0);

/**
 * A recording is written in place (its header is rewritten at the end), so it must go to a
 * regular file: refuse a directory, pipe or device before the call, not at its end.
 */
export function checkWavTarget(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    const code = (e as NodeJS.ErrnoException).code;
    throw new WavError('write-failed', `cannot write WAV file ${path}: ${code ?? firstLine(e)}`);
  }
  if (!st.isFile())
    throw new WavError('write-failed', `cannot write WAV file ${path}: not a regular file`);
}

/**
 * Records a 48 kHz mono 16-bit WAV frame by frame: frames are buffered and written in blocks,
 * and close() writes the final sizes into the header. A file cut short (crash) still has a
 * header saying "empty"; most players then refuse it, which is why close() matters.
 */
export class WavStreamWriter {
  readonly path: string;
  private fd: number | null;
  private readonly rate: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private dataBytes = 0;
  private dropped = 0;
  private readonly maxDataBytes: number;
  private static readonly FLUSH_BYTES = 64 * 1024;

  /** `maxDataBytes` lowers the WAV format's 4 GiB limit (for tests and disk quotas). */
  constructor(path: string, rate = PIPELINE_SAMPLE_RATE, opts: { maxDataBytes?: number } = {}) {
    this.path = path;
    this.rate = rate;
    this.maxDataBytes = Math.min(MAX_DATA_BYTES, opts.maxDataBytes ?? MAX_DATA_BYTES);
    checkWavTarget(path);
    try {
      // Non-blocking: a FIFO with no reader fails here instead of hanging the call.
      this.fd = openSync(path, WRITE_FLAGS, 0o644);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new WavError('write-failed', `cannot create WAV file ${path}: ${code ?? firstLine(e)}`);
    }
    try {
      if (!fstatSync(this.fd).isFile()) throw new Error('not a regular file');
      writeSync(this.fd, wavHeader(0, rate), 0, HEADER_BYTES, 0);
    } catch (e) {
      closeSync(this.fd);
      this.fd = null;
      const code = (e as NodeJS.ErrnoException).code;
      throw new WavError('write-failed', `cannot create WAV file ${path}: ${code ?? firstLine(e)}`);
    }
  }

  /** Samples written so far (including any still buffered). */
  get samplesWritten(): number {
    return (this.dataBytes + this.pendingBytes) / 2;
  }

  /** Samples not recorded because the file reached the WAV size limit. */
  get samplesDropped(): number {
    return this.dropped;
  }

  write(frame: Int16Array): void {
    if (this.fd === null)
      throw new WavError('write-failed', `WAV file ${this.path} is already closed`);
    const room = Math.floor((this.maxDataBytes - this.dataBytes - this.pendingBytes) / 2);
    const keep = Math.min(room, frame.length);
    this.dropped += frame.length - keep;
    if (keep <= 0) return;
    const bytes = pcmBytes(keep === frame.length ? frame : frame.subarray(0, keep));
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= WavStreamWriter.FLUSH_BYTES) this.flush();
  }

  /** Write buffered frames and the header; the file is then complete (and still open). */
  flush(): void {
    const fd = this.fd;
    if (fd === null) return;
    try {
      if (this.pendingBytes > 0) {
        const block = Buffer.concat(this.pending, this.pendingBytes);
        writeSync(fd, block, 0, block.length, HEADER_BYTES + this.dataBytes);
        this.dataBytes += block.length;
        this.pending = [];
        this.pendingBytes = 0;
      }
      writeSync(fd, wavHeader(this.dataBytes, this.rate), 0, HEADER_BYTES, 0);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new WavError(
        'write-failed',
        `cannot write WAV file ${this.path}: ${code ?? firstLine(e)}`,
      );
    }
  }

  /** Flush, fix the header and close. Idempotent. */
  close(): void {
    if (this.fd === null) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}
